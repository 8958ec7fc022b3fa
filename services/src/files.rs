//! Reading input files with a size bound, so a device file (`/dev/zero`), a pipe or a huge
//! file is a clear error instead of the process filling its memory before any check runs.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// Largest image file read (encoded bytes): far above any image within the decoder's pixel
/// limits in a compressed format, and above an uncompressed 24-bit BMP at its 80 megapixels.
pub const MAX_IMAGE_FILE: u64 = 512 << 20;

/// Largest model file (`.kmod`, ONNX) read.
pub const MAX_MODEL_FILE: u64 = 2 << 30;

/// Largest text file (manifests, predictions, keys, certificates) read.
pub const MAX_TEXT_FILE: u64 = 1 << 30;

/// The bytes of the regular file at `path`, when it holds at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(too_large(meta.len(), max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never past the bound.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// [`read_bounded`] for UTF-8 text.
pub fn read_text_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_large(len: u64, max: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("{len} bytes, more than the {max} accepted"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold() {
        let dir = std::env::temp_dir().join(format!("kestrel-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ten.bin");
        std::fs::write(&f, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&f, 10).unwrap(), vec![7u8; 10]);
        let err = read_bounded(&f, 9).unwrap_err();
        assert!(err.to_string().contains("more than the 9"), "{err}");
        let err = read_bounded(&dir, 100).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        if Path::new("/dev/zero").exists() {
            let err = read_bounded(Path::new("/dev/zero"), 100).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        std::fs::write(&f, [0xffu8, 0xfe]).unwrap();
        assert!(read_text_bounded(&f, 10).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
