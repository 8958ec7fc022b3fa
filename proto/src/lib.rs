//! Kestrel's protobuf types and gRPC service (`kestrel.v1`), generated at build time from the
//! files in `proto/proto/` (compiled with protox, so no system `protoc` is needed).

/// The `kestrel.v1` package.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/kestrel.v1.rs"));
}

/// The encoded descriptor set of the `kestrel.v1` files, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kestrel_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::v1::*;
    use prost::Message;

    #[test]
    fn page_round_trips() {
        let page = Page {
            lines: vec![Line {
                text: "你好".into(),
                confidence: 0.9,
                quad: None,
                chars: vec![],
                angle: 180,
            }],
            width: 10,
            height: 5,
        };
        let bytes = page.encode_to_vec();
        assert_eq!(Page::decode(bytes.as_slice()).unwrap(), page);
    }
}
