//! Kestrel's embeddable SDK: the int8 runtime and a compact OCR pipeline behind a C ABI
//! (`include/kestrel.h`), built `no_std` + `alloc` so the shared library stays small.
//!
//! Every exported function checks its pointers, returns a [`Status`] and never unwinds: the
//! library is built with `panic = "abort"`, and the code paths return errors instead of
//! panicking. Memory comes from the C library's allocator. An engine is not thread-safe; use
//! one engine per thread (engines share nothing).
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod message;
pub mod pipeline;

use alloc::boxed::Box;
use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int};
use message::Message;
use ocr_core::runtime::Model;
use pipeline::{Line, Pipeline, Rgb, SdkError};

/// Status codes (`KestrelStatus` in `kestrel.h`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A null pointer, zero size or other bad argument.
    Argument = 1,
    /// A malformed, mismatched or encrypted-without-key model file, or a wrong key.
    Model = 2,
    /// An image the pipeline refuses.
    Input = 3,
    /// A resource limit was hit.
    Limit = 4,
    /// Something this build does not support.
    Unsupported = 5,
}

impl From<&SdkError> for Status {
    fn from(e: &SdkError) -> Self {
        match e {
            SdkError::Argument(_) => Status::Argument,
            SdkError::Model(_) => Status::Model,
            SdkError::Input(_) => Status::Input,
            SdkError::Limit(_) => Status::Limit,
            SdkError::Unsupported(_) => Status::Unsupported,
        }
    }
}

fn message(e: &SdkError) -> &str {
    match e {
        SdkError::Argument(m)
        | SdkError::Model(m)
        | SdkError::Input(m)
        | SdkError::Limit(m)
        | SdkError::Unsupported(m) => m,
    }
}

/// An engine: the pipeline and the message of its last failed call.
pub struct Engine {
    pipeline: Pipeline,
    last_error: CString,
}

impl Engine {
    fn fail(&mut self, e: SdkError) -> Status {
        self.last_error = c_string(message(&e));
        Status::from(&e)
    }
}

/// The lines of one call.
pub struct Results {
    lines: Vec<(Line, CString)>,
}

/// One result line as C sees it (`KestrelLine`).
#[repr(C)]
pub struct CLine {
    /// Box left, top, right (exclusive), bottom (exclusive) in image pixels.
    pub x0: i32,
    /// Top edge.
    pub y0: i32,
    /// Right edge.
    pub x1: i32,
    /// Bottom edge.
    pub y1: i32,
    /// Mean character probability.
    pub confidence: f32,
    /// Mean detector probability of the box (1 for whole-image recognition).
    pub box_score: f32,
    /// 0, or 180 when the line was upside down.
    pub angle: i32,
    /// NUL-terminated UTF-8 text, owned by the results object.
    pub text: *const c_char,
}

/// A C string of `s` (interior NULs, which model text never holds, are dropped).
fn c_string(s: &str) -> CString {
    let bytes: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
    CString::new(bytes).unwrap_or_default()
}

/// Borrows `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes that outlive the borrow.
unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], SdkError> {
    if ptr.is_null() || len == 0 {
        return Err(SdkError::Argument(
            Message::new(what).text(" is null or empty").done(),
        ));
    }
    if len > isize::MAX as usize {
        return Err(SdkError::Argument(
            Message::new(what).text(" is too large").done(),
        ));
    }
    // SAFETY: non-null, at most isize::MAX bytes, and the caller guarantees `len` readable
    // bytes (the C contract).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

fn load(bytes: &[u8], key: Option<&[u8; 32]>, what: &str) -> Result<Model, SdkError> {
    let loaded = match key {
        #[cfg(feature = "encryption")]
        Some(k) => Model::from_sealed_bytes(bytes, k),
        #[cfg(not(feature = "encryption"))]
        Some(_) => {
            return Err(SdkError::Unsupported(
                "this build has no model decryption".into(),
            ));
        }
        None => Model::from_bytes(bytes),
    };
    loaded.map_err(|e| {
        SdkError::Model(
            Message::new(what)
                .text(": ")
                .text(e.kind())
                .text(": ")
                .text(e.detail())
                .done(),
        )
    })
}

/// Writes `msg` into the caller's buffer, truncated and NUL-terminated.
///
/// # Safety
/// `buf` must be null or point to `len` writable bytes.
unsafe fn write_message(buf: *mut c_char, len: usize, msg: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = msg.len().min(len - 1);
    // SAFETY: `buf` has `len` writable bytes and we write `n + 1 <= len` of them.
    unsafe {
        core::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}

/// Creates an engine from model file bytes (the `.kmod` files; `cls` may be null). `key`, if
/// not null, is the 32-byte key of encrypted model files. On failure `*out` is null and the
/// message goes to `message` (`message_len` bytes, may be null).
///
/// # Safety
/// Pointers must be null or valid for the sizes given; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_engine_create(
    det: *const u8,
    det_len: usize,
    rec: *const u8,
    rec_len: usize,
    cls: *const u8,
    cls_len: usize,
    key: *const u8,
    out: *mut *mut Engine,
    message: *mut c_char,
    message_len: usize,
) -> Status {
    if out.is_null() {
        // SAFETY: the caller's buffer contract.
        unsafe { write_message(message, message_len, "out is null") };
        return Status::Argument;
    }
    // SAFETY: `out` is non-null and writable (the C contract).
    unsafe { *out = core::ptr::null_mut() };
    let build = || -> Result<Engine, SdkError> {
        let key = if key.is_null() {
            None
        } else {
            // SAFETY: a non-null key points to 32 bytes (the C contract).
            Some(unsafe { &*(key as *const [u8; 32]) })
        };
        // SAFETY: the caller's pointer/length contract, checked for null and zero.
        let det = load(unsafe { bytes(det, det_len, "det")? }, key, "det")?;
        let rec = load(unsafe { bytes(rec, rec_len, "rec")? }, key, "rec")?;
        let cls = if cls.is_null() {
            None
        } else {
            Some(load(unsafe { bytes(cls, cls_len, "cls")? }, key, "cls")?)
        };
        Ok(Engine {
            pipeline: Pipeline::new(det, rec, cls)?,
            last_error: CString::default(),
        })
    };
    match build() {
        Ok(engine) => {
            // SAFETY: checked non-null above.
            unsafe { *out = Box::into_raw(Box::new(engine)) };
            Status::Ok
        }
        Err(e) => {
            // SAFETY: the caller's buffer contract.
            unsafe { write_message(message, message_len, self::message(&e)) };
            Status::from(&e)
        }
    }
}

/// Frees an engine (null is ignored).
///
/// # Safety
/// `engine` must be null or come from [`kestrel_engine_create`] and not be freed already.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_engine_free(engine: *mut Engine) {
    if !engine.is_null() {
        // SAFETY: created by `Box::into_raw` in `kestrel_engine_create`, freed once.
        drop(unsafe { Box::from_raw(engine) });
    }
}

/// Sets the engine's thread count. This build runs on the calling thread, so only 1 is
/// accepted; run one engine per thread for parallelism.
///
/// # Safety
/// `engine` must be null or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_engine_set_threads(engine: *mut Engine, threads: c_int) -> Status {
    // SAFETY: null or a live engine (the C contract).
    let Some(engine) = (unsafe { engine.as_mut() }) else {
        return Status::Argument;
    };
    match threads {
        1 => Status::Ok,
        n if n < 1 => engine.fail(SdkError::Argument(
            Message::new("").num(n.into()).text(" threads").done(),
        )),
        _ => engine.fail(SdkError::Unsupported(
            "this build runs on the calling thread: use one engine per thread".into(),
        )),
    }
}

/// The message of the engine's last failed call (empty if none); valid until the next call.
///
/// # Safety
/// `engine` must be null or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_engine_last_error(engine: *const Engine) -> *const c_char {
    // SAFETY: null or a live engine (the C contract).
    match unsafe { engine.as_ref() } {
        Some(e) => e.last_error.as_ptr(),
        None => c"engine is null".as_ptr(),
    }
}

/// What a run call does.
#[derive(Clone, Copy)]
enum Task {
    Read,
    Detect,
    Recognize,
}

/// Shared body of the run calls.
///
/// # Safety
/// The pointers must satisfy the contract of the exported run functions.
unsafe fn run(
    engine: *mut Engine,
    rgb: *const u8,
    width: u32,
    height: u32,
    stride: u32,
    out: *mut *mut Results,
    task: Task,
) -> Status {
    // SAFETY: null or a live engine (the C contract).
    let Some(engine) = (unsafe { engine.as_mut() }) else {
        return Status::Argument;
    };
    if out.is_null() {
        return engine.fail(SdkError::Argument("out is null".into()));
    }
    // SAFETY: `out` is non-null and writable.
    unsafe { *out = core::ptr::null_mut() };
    let (w, h, stride) = (width as usize, height as usize, stride as usize);
    // Refuse oversized images before touching the caller's buffer.
    if w > pipeline::MAX_SIDE || h > pipeline::MAX_SIDE {
        return engine.fail(SdkError::Input(
            Message::new("")
                .num(w as i64)
                .text("x")
                .num(h as i64)
                .text(" is larger than ")
                .num(pipeline::MAX_SIDE as i64)
                .text(" per side")
                .done(),
        ));
    }
    let len = match stride
        .checked_mul(h.saturating_sub(1))
        .and_then(|n| n.checked_add(w * 3))
    {
        Some(n) if h > 0 && w > 0 => n,
        _ => return engine.fail(SdkError::Input("the image is empty or too large".into())),
    };
    // SAFETY: the caller guarantees `stride * (height - 1) + 3 * width` readable bytes.
    let pixels = match unsafe { bytes(rgb, len, "rgb") } {
        Ok(p) => p,
        Err(e) => return engine.fail(e),
    };
    let result = Rgb::from_rows(pixels, w, h, stride).and_then(|img| match task {
        Task::Read => engine.pipeline.read(&img),
        Task::Recognize => engine.pipeline.recognize(&img).map(|l| alloc::vec![l]),
        Task::Detect => engine.pipeline.detect(&img).map(|boxes| {
            boxes
                .into_iter()
                .map(|bbox| Line {
                    bbox,
                    text: String::new(),
                    confidence: 0.0,
                    angle: 0,
                })
                .collect()
        }),
    });
    match result {
        Ok(lines) => {
            let lines = lines
                .into_iter()
                .map(|l| {
                    let c = c_string(&l.text);
                    (l, c)
                })
                .collect();
            // SAFETY: checked non-null above.
            unsafe { *out = Box::into_raw(Box::new(Results { lines })) };
            Status::Ok
        }
        Err(e) => engine.fail(e),
    }
}

/// Detects and reads every text line of an RGB image (`stride` bytes per row, 3 bytes per
/// pixel). On success `*out` holds the results; free them with [`kestrel_results_free`].
///
/// # Safety
/// `engine` is a live engine; `rgb` points to `stride * (height - 1) + 3 * width` readable
/// bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_read(
    engine: *mut Engine,
    rgb: *const u8,
    width: u32,
    height: u32,
    stride: u32,
    out: *mut *mut Results,
) -> Status {
    // SAFETY: forwarded contract.
    unsafe { run(engine, rgb, width, height, stride, out, Task::Read) }
}

/// Detects text lines only (results with empty text).
///
/// # Safety
/// As [`kestrel_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_detect(
    engine: *mut Engine,
    rgb: *const u8,
    width: u32,
    height: u32,
    stride: u32,
    out: *mut *mut Results,
) -> Status {
    // SAFETY: forwarded contract.
    unsafe { run(engine, rgb, width, height, stride, out, Task::Detect) }
}

/// Reads the whole image as one text line (a crop): the classifier, if loaded, turns it
/// upright first. One result.
///
/// # Safety
/// As [`kestrel_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_recognize(
    engine: *mut Engine,
    rgb: *const u8,
    width: u32,
    height: u32,
    stride: u32,
    out: *mut *mut Results,
) -> Status {
    // SAFETY: forwarded contract.
    unsafe { run(engine, rgb, width, height, stride, out, Task::Recognize) }
}

/// Number of lines in the results (0 for null).
///
/// # Safety
/// `results` must be null or live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_results_count(results: *const Results) -> usize {
    // SAFETY: null or live results (the C contract).
    unsafe { results.as_ref() }.map_or(0, |r| r.lines.len())
}

/// Copies line `index` into `*line`; its text stays owned by the results.
///
/// # Safety
/// `results` must be null or live results; `line` must be null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_results_line(
    results: *const Results,
    index: usize,
    line: *mut CLine,
) -> Status {
    // SAFETY: null or live results, null or writable line (the C contract).
    let (Some(r), false) = (unsafe { results.as_ref() }, line.is_null()) else {
        return Status::Argument;
    };
    let Some((l, text)) = r.lines.get(index) else {
        return Status::Argument;
    };
    // SAFETY: `line` is non-null and writable.
    unsafe {
        *line = CLine {
            x0: l.bbox.x0,
            y0: l.bbox.y0,
            x1: l.bbox.x1,
            y1: l.bbox.y1,
            confidence: l.confidence,
            box_score: l.bbox.score,
            angle: l.angle,
            text: text.as_ptr(),
        };
    }
    Status::Ok
}

/// Frees results (null is ignored).
///
/// # Safety
/// `results` must be null or come from a run call and not be freed already.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kestrel_results_free(results: *mut Results) {
    if !results.is_null() {
        // SAFETY: created by `Box::into_raw` in `run`, freed once.
        drop(unsafe { Box::from_raw(results) });
    }
}

/// The library version, NUL-terminated.
#[unsafe(no_mangle)]
pub extern "C" fn kestrel_version() -> *const c_char {
    c"kestrel-sdk 0.1.0".as_ptr()
}

/// The C library's allocator, and an abort for panics (which the code paths avoid).
#[cfg(not(test))]
mod platform {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ffi::c_void;

    unsafe extern "C" {
        fn malloc(size: usize) -> *mut c_void;
        fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
        fn free(ptr: *mut c_void);
        fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32;
        fn abort() -> !;
    }

    /// `malloc` alignment on the 64-bit targets we build for.
    const MALLOC_ALIGN: usize = 16;

    struct LibcAlloc;

    // SAFETY: malloc/posix_memalign return blocks of at least the requested size and
    // alignment (or null, which GlobalAlloc allows); free and realloc receive only pointers
    // they returned, with realloc used only where malloc's alignment suffices.
    unsafe impl GlobalAlloc for LibcAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.align() <= MALLOC_ALIGN {
                // SAFETY: plain C allocation.
                unsafe { malloc(layout.size()) as *mut u8 }
            } else {
                let mut p = core::ptr::null_mut();
                // SAFETY: the alignment is a power of two and a multiple of the pointer size.
                let r = unsafe { posix_memalign(&mut p, layout.align(), layout.size()) };
                if r == 0 {
                    p as *mut u8
                } else {
                    core::ptr::null_mut()
                }
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
            // SAFETY: `ptr` came from malloc or posix_memalign.
            unsafe { free(ptr as *mut c_void) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if layout.align() <= MALLOC_ALIGN {
                // SAFETY: `ptr` came from malloc with malloc's alignment.
                unsafe { realloc(ptr as *mut c_void, new_size) as *mut u8 }
            } else {
                // SAFETY: the default path allocates, copies and frees through the methods above.
                let new = unsafe {
                    self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()))
                };
                if !new.is_null() {
                    // SAFETY: both blocks hold at least the smaller size.
                    unsafe {
                        core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }

    #[global_allocator]
    static ALLOCATOR: LibcAlloc = LibcAlloc;

    /// The precompiled `core` and `alloc` reference the unwinding personality routine even
    /// when this library is built with `panic = "abort"`; nothing unwinds here, so it is never
    /// called.
    #[unsafe(no_mangle)]
    extern "C" fn rust_eh_personality() {}

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        // SAFETY: abort never returns and is always safe to call.
        unsafe { abort() }
    }
}
