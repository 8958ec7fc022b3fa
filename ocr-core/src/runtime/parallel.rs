//! Optional multi-threading. With the `std` feature a [`Threads`] owns a rayon pool of a fixed
//! size; without it (or with one thread) work runs on the caller's thread. Work is always split
//! into pieces whose results do not depend on how many threads run them, so outputs are
//! bit-identical for any thread count.

#[cfg(feature = "std")]
use alloc::sync::Arc;

/// A fixed-size set of worker threads (or the calling thread alone).
#[derive(Clone)]
pub struct Threads {
    count: usize,
    #[cfg(feature = "std")]
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl core::fmt::Debug for Threads {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Threads({})", self.count)
    }
}

impl Default for Threads {
    fn default() -> Self {
        Self::single()
    }
}

impl Threads {
    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Threads {
            count: 1,
            #[cfg(feature = "std")]
            pool: None,
        }
    }

    /// A pool of `count` threads (`0` means one per available core).
    #[cfg(feature = "std")]
    pub fn new(count: usize) -> super::Result<Self> {
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        };
        if count == 1 {
            return Ok(Self::single());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(count)
            .thread_name(|i| alloc::format!("kestrel-{i}"))
            .build()
            .map_err(|e| super::Error::Io(alloc::format!("cannot start threads: {e}")))?;
        Ok(Threads {
            count,
            pool: Some(Arc::new(pool)),
        })
    }

    /// Runs `f` on one of the pool's threads (directly when there is no pool): parallel
    /// work that `f` then starts is shared with the thread already running, instead of being
    /// handed to the pool from outside and waited for.
    ///
    /// While `f` runs, the pool's other threads poll for work instead of going to sleep
    /// between operators, as onnxruntime's spinning workers do: an operator's pieces then start
    /// on every thread at once, without a wake-up (tens of microseconds, as long as a small
    /// operator's whole work) each time. They stop polling when `f` returns or unwinds.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool {
            use core::sync::atomic::{AtomicBool, Ordering};
            /// Tells the polling threads to stop, also when `f` panics (the scope would
            /// otherwise wait for them forever).
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Release);
                }
            }
            let stop = AtomicBool::new(false);
            return pool.install(|| {
                rayon::scope(|s| {
                    for _ in 1..self.count {
                        s.spawn(|_| {
                            while !stop.load(Ordering::Acquire) {
                                // Runs one pending piece of work if there is one (stolen
                                // from the thread running `f`).
                                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                                    core::hint::spin_loop();
                                }
                            }
                        });
                    }
                    let _stop = StopOnDrop(&stop);
                    f()
                })
            });
        }
        f()
    }

    /// Number of threads work is spread over.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Calls `f(i, a_chunk, b_chunk)` for the `i`-th pieces of `a` and `b` together, in
    /// parallel where possible (`b` must have at least as many pieces as `a`).
    pub fn for_each_pair_mut<T: Send, U: Send>(
        &self,
        a: &mut [T],
        a_chunk: usize,
        b: &mut [U],
        b_chunk: usize,
        f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send,
    ) {
        let (a_chunk, b_chunk) = (a_chunk.max(1), b_chunk.max(1));
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool
            && a.len() > a_chunk
        {
            use rayon::prelude::*;
            pool.install(|| {
                a.par_chunks_mut(a_chunk)
                    .zip(b.par_chunks_mut(b_chunk))
                    .enumerate()
                    .for_each(|(i, (x, y))| f(i, x, y))
            });
            return;
        }
        a.chunks_mut(a_chunk)
            .zip(b.chunks_mut(b_chunk))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }

    /// Calls `f(i, chunk)` for each `chunk`-sized piece of `data`, in parallel where possible.
    pub fn for_each_chunk_mut<T: Send>(
        &self,
        data: &mut [T],
        chunk: usize,
        f: impl Fn(usize, &mut [T]) + Sync + Send,
    ) {
        let chunk = chunk.max(1);
        #[cfg(feature = "std")]
        if let Some(pool) = &self.pool
            && data.len() > chunk
        {
            use rayon::prelude::*;
            pool.install(|| {
                data.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, c)| f(i, c))
            });
            return;
        }
        data.chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::Threads;
    use alloc::vec;

    /// Work started inside `install` is done whole, and a panic inside it reaches the caller
    /// (the polling threads stop instead of holding the call open), leaving the pool usable.
    #[test]
    fn install_finishes_work_and_passes_panics_on() {
        let threads = Threads::new(2).unwrap();
        for round in 0..3 {
            let mut v = vec![usize::MAX; 1000];
            let got = threads.install(|| {
                threads.for_each_chunk_mut(&mut v, 7, |i, c| c.fill(i + round));
                round
            });
            assert_eq!(got, round);
            assert!(v.iter().enumerate().all(|(j, &x)| x == j / 7 + round));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                threads.install(|| panic!("a failing operator"))
            }));
            assert!(r.is_err());
        }
    }
}
