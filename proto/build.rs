//! Compiles `proto/kestrel/v1/*.proto` with protox (no system `protoc`) into prost types.

fn main() {
    let files = ["proto/kestrel/v1/ocr.proto"];
    let fds = protox::compile(files, ["proto"]).expect("kestrel protos");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("generate kestrel.v1 types");
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
}
