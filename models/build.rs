//! Compiles the ONNX schema subset with protox (no system `protoc`) and generates prost types.

fn main() {
    let fds = protox::compile(["proto/onnx_subset.proto"], ["proto"]).expect("onnx_subset.proto");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("generate ONNX types");
    println!("cargo:rerun-if-changed=proto/onnx_subset.proto");
}
