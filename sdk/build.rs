//! Size-first linking of the shared library on x86-64 Linux: an implicit linker script drops the
//! unwind tables, which a `panic = "abort"` library that never unwinds does not need.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=discard-unwind-tables.ld");
    // x86-64 only: the AArch64 cross linker (Debian's binutils) rejects the script's `INSERT
    // AFTER .text`; AArch64 builds keep their unwind tables.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
    {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let script = Path::new(&dir).join("discard-unwind-tables.ld");
        println!("cargo:rustc-cdylib-link-arg={}", script.display());
    }
}
