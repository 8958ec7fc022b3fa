//! Optional multi-threading. With the `std` feature a [`Threads`] owns a rayon pool of a fixed
//! size; without it (or with one thread) work runs on the caller's thread. Work is always split
//! into pieces whose results do not depend on how many threads run them, so outputs are
//! bit-identical for any thread count.

#[cfg(feature = "std")]
use alloc::sync::Arc;

/// How long a pool thread polls for work during [`Threads::install`] without finding any
/// before it stops polling (and sleeps until woken, as rayon's threads otherwise do). Longer
/// than the gaps between a model's operators, short enough to bound the delay in the rare
/// case that a poller holds up another caller (see `install`).
#[cfg(feature = "std")]
pub const POLL_IDLE: core::time::Duration = core::time::Duration::from_millis(2);

/// Most threads a pool may have: workers spin while waiting for work, so far more threads
/// than cores only slow every operator down (and thousands stall a call for minutes).
pub const MAX_THREADS: usize = 256;

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

    /// A pool of `count` threads (`0` means one per available core; at most [`MAX_THREADS`]).
    #[cfg(feature = "std")]
    pub fn new(count: usize) -> super::Result<Self> {
        if count > MAX_THREADS {
            return Err(super::Error::Limit(msg!(
                "{count} threads asked for; at most {MAX_THREADS}"
            )));
        }
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
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
            .map_err(|e| super::Error::Io(msg!("cannot start threads: {e}")))?;
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
    /// operator's whole work) each time. They stop polling when `f` returns or unwinds, or
    /// after [`POLL_IDLE`] without finding work. The bound matters when several callers share
    /// one pool: rayon may run one caller's poller on a thread whose stack holds another
    /// caller's `f`, which then cannot resume until that poller returns.
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
                            let mut idle_since = std::time::Instant::now();
                            while !stop.load(Ordering::Acquire) {
                                // Runs one pending piece of work if there is one (stolen
                                // from the thread running `f`).
                                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                                    idle_since = std::time::Instant::now();
                                } else if idle_since.elapsed() > POLL_IDLE {
                                    break;
                                } else {
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

    /// Several callers sharing one pool, each running parallel work inside `install` many
    /// times, all finish with the right results: a stress test under a watchdog, so a hang
    /// (e.g. a poller holding up another caller's stack for good) fails instead of blocking.
    #[test]
    fn concurrent_callers_of_one_pool_finish() {
        let threads = Threads::new(2).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        for caller in 0..8usize {
            let (threads, done) = (threads.clone(), done.clone());
            std::thread::spawn(move || {
                for round in 0..3000 {
                    let mut v = vec![0usize; 4096];
                    threads.install(|| {
                        threads.for_each_chunk_mut(&mut v, 64, |i, c| c.fill(i + round));
                    });
                    assert!(v.iter().enumerate().all(|(j, &x)| x == j / 64 + round));
                }
                done.send(caller).unwrap();
            });
        }
        for _ in 0..8 {
            let got = finished.recv_timeout(std::time::Duration::from_secs(60));
            assert!(
                got.is_ok(),
                "callers of a shared pool did not finish: deadlock"
            );
        }
    }
}
