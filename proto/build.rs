//! Compiles `proto/kestrel/v1/*.proto` with protox (no system `protoc`) into prost messages and
//! tonic service code, and saves the descriptor set for gRPC server reflection.

use prost::Message;

fn main() {
    let files = ["proto/kestrel/v1/ocr.proto"];
    let fds = protox::compile(files, ["proto"]).expect("kestrel protos");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("kestrel_descriptor.bin"), fds.encode_to_vec())
        .expect("write descriptor set");
    tonic_prost_build::configure()
        .compile_fds(fds)
        .expect("generate kestrel.v1 code");
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
}
