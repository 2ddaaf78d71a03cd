//! Append throughput and latency against physical baselines and `commitlog` 0.2.0.
//!
//! Every group holds pagelog, the raw baselines and commitlog for one value size and one
//! append shape, so the numbers of a group come from one run and read as ratios.
//!
//! * `append_nosync/*`: no append waits for a sync. pagelog appends to a
//!   `TopicConfig::default()` topic, as README shows (its flusher syncs once a second, which
//!   tmpfs makes nearly free). Files live on `/dev/shm` (tmpfs) so that the kernel's
//!   dirty-page writeback to the real disk neither throttles nor disturbs the measurement: it
//!   measures the CPU and memory cost of each append path. Every sample
//!   writes into fresh files (created and removed outside the timed region, at most
//!   `common::CHUNK_BYTES` (256 MiB) of values per file set) so memory stays bounded and every
//!   path pays for first-touch page faults alike.
//! * `append_durable/*`: each append is durable before it returns (pagelog
//!   `FlushPolicy::EveryAppend`, `write` + `fdatasync` for the baseline), on the real disk
//!   (the temp dir under `/tmp`). commitlog 0.2.0's `flush()` only calls `File::flush`, which
//!   does not sync, so its entry there (`commitlog_append_flush_NOT_durable`) is no durable
//!   figure: it is shown only to make that plain.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "benchmark data and figures: offsets, sizes and counts are small, and rates and latencies are printed as floats"
)]

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use commitlog::message::MessageBuf;
use commitlog::{CommitLog, LogOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pagelog::{FlushPolicy, NewRecord, Store, TopicConfig};

const BATCH: usize = 100;
const SIZES: [(usize, &str); 3] = [(100, "100B"), (1024, "1KiB"), (64 * 1024, "64KiB")];

fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// The topic users create (README): `TopicConfig::default()`, with `flush` when given. Only a
/// batch of 100 x 64 KiB, above the default 1 MiB batch limit, gets the limit raised.
fn topic_config(flush: Option<FlushPolicy>, batch_bytes: u64) -> TopicConfig {
    let mut c = TopicConfig::default();
    if let Some(f) = flush {
        c = c.flush(f);
    }
    if batch_bytes >= 1 << 20 {
        c = c.max_batch_bytes(8 << 20);
    }
    c
}

fn commitlog_options(dir: &Path, records: u64) -> LogOptions {
    let mut o = LogOptions::new(dir);
    // Room for every record of a chunk in one segment and one index, as pagelog gets; the
    // defaults (100 000 index entries) would roll segments every 100 000 records.
    o.index_max_items((records as usize + 16).max(100_000));
    o.message_max_bytes(16 << 20);
    o.segment_max_bytes(2_000_000_000);
    o
}

/// One topic per chunk in a store that lives as long as the benchmark.
struct PagelogChunk {
    topic: pagelog::Topic,
    name: String,
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order"
)]
fn bench_nosync(c: &mut Criterion) {
    for (size, label) in SIZES {
        let v = value(size);
        let batch_vals: Vec<&[u8]> = vec![&v[..]; BATCH];
        let concat: Vec<u8> = v.repeat(BATCH);
        for batched in [false, true] {
            let per_iter = if batched { BATCH } else { 1 };
            let bytes_per_iter = (size * per_iter) as u64;
            let shape = if batched { "batch100" } else { "single" };
            let mut g = c.benchmark_group(format!("append_nosync/{label}/{shape}"));
            if size >= 64 * 1024 {
                g.throughput(Throughput::Bytes(bytes_per_iter));
            } else {
                g.throughput(Throughput::Elements(per_iter as u64));
            }
            common::short_sampling(&mut g, Duration::from_secs(2));

            // memcpy of the same bytes into a Vec reserved per chunk (fresh pages, like a
            // growing log).
            g.bench_function("memcpy_vec", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |n| Vec::<u8>::with_capacity((n * bytes_per_iter) as usize),
                        |buf, n| {
                            for _ in 0..n {
                                if batched {
                                    for val in &batch_vals {
                                        buf.extend_from_slice(val);
                                    }
                                } else {
                                    buf.extend_from_slice(&v);
                                }
                                black_box(buf.len());
                            }
                        },
                        drop,
                    )
                });
            });

            // write(2) of the same bytes to a file on tmpfs: one call per record, one per
            // batch for batches (the concatenated values).
            let dir = common::shm_dir();
            let file_path = dir.path().join("raw.bin");
            g.bench_function("file_write", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |_| File::create(&file_path).unwrap(),
                        |f, n| {
                            for _ in 0..n {
                                if batched {
                                    f.write_all(&concat).unwrap();
                                } else {
                                    f.write_all(&v).unwrap();
                                }
                            }
                        },
                        |f| {
                            drop(f);
                            std::fs::remove_file(&file_path).unwrap();
                        },
                    )
                });
            });

            let store = Store::open(dir.path().join("store")).unwrap();
            let mut seq = 0u64;
            g.bench_function("pagelog", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |_| {
                            seq += 1;
                            let name = format!("t{seq}");
                            let topic = store
                                .create_topic(&name, topic_config(None, bytes_per_iter))
                                .unwrap();
                            PagelogChunk { topic, name }
                        },
                        |s, n| {
                            let p = s.topic.partition(0).unwrap();
                            if batched {
                                let recs: Vec<NewRecord<'_>> =
                                    batch_vals.iter().map(|x| NewRecord::new(x)).collect();
                                for _ in 0..n {
                                    black_box(p.append_batch(&recs).unwrap());
                                }
                            } else {
                                for _ in 0..n {
                                    black_box(p.append(NewRecord::new(&v)).unwrap());
                                }
                            }
                        },
                        |s| {
                            drop(s.topic);
                            store.delete_topic(&s.name).unwrap();
                        },
                    )
                });
            });

            let cl_root = dir.path().join("commitlog");
            g.bench_function("commitlog", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |n| {
                            seq += 1;
                            let d = cl_root.join(seq.to_string());
                            let log =
                                CommitLog::new(commitlog_options(&d, n * per_iter as u64)).unwrap();
                            (log, d)
                        },
                        |(log, _), n| {
                            if batched {
                                for _ in 0..n {
                                    // Building the MessageBuf is part of commitlog's batch API
                                    // (pagelog's encoding is inside append_batch too).
                                    let mut buf = MessageBuf::default();
                                    for val in &batch_vals {
                                        buf.push(val).unwrap();
                                    }
                                    black_box(log.append(&mut buf).unwrap());
                                }
                            } else {
                                for _ in 0..n {
                                    black_box(log.append_msg(&v).unwrap());
                                }
                            }
                        },
                        |(log, d)| {
                            drop(log);
                            std::fs::remove_dir_all(d).unwrap();
                        },
                    )
                });
            });
            g.finish();
            store.close().unwrap();
        }
    }
}

fn fresh_file(path: &PathBuf) -> File {
    let f = File::create(path).unwrap();
    f.sync_all().unwrap();
    f
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark's setup, checks and groups in order"
)]
fn bench_durable(c: &mut Criterion) {
    for (size, label) in SIZES {
        let v = value(size);
        let batch_vals: Vec<&[u8]> = vec![&v[..]; BATCH];
        let concat: Vec<u8> = v.repeat(BATCH);
        for batched in [false, true] {
            let per_iter = if batched { BATCH } else { 1 };
            let bytes_per_iter = (size * per_iter) as u64;
            let shape = if batched { "batch100" } else { "single" };
            let mut g = c.benchmark_group(format!("append_durable/{label}/{shape}"));
            if size >= 64 * 1024 {
                g.throughput(Throughput::Bytes(bytes_per_iter));
            } else {
                g.throughput(Throughput::Elements(per_iter as u64));
            }
            common::short_sampling(&mut g, Duration::from_secs(2));

            let dir = common::disk_dir();
            let file_path = dir.path().join("raw.bin");
            g.bench_function("file_write_fdatasync", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |_| fresh_file(&file_path),
                        |f, n| {
                            for _ in 0..n {
                                if batched {
                                    f.write_all(&concat).unwrap();
                                } else {
                                    f.write_all(&v).unwrap();
                                }
                                f.sync_data().unwrap();
                            }
                        },
                        |f| {
                            drop(f);
                            std::fs::remove_file(&file_path).unwrap();
                        },
                    )
                });
            });

            // The same into space reserved with fallocate(2) beforehand (untimed), as pagelog
            // reserves its segment files: fdatasync then does not have to grow the file.
            g.bench_function("file_write_fdatasync_fallocated", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |n| {
                            let f = fresh_file(&file_path);
                            let len = (n * bytes_per_iter) as libc::off_t;
                            // SAFETY: a valid open descriptor; no memory is passed.
                            let rc = unsafe {
                                libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(&f), 0, 0, len)
                            };
                            assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
                            f.sync_all().unwrap();
                            f
                        },
                        |f, n| {
                            for _ in 0..n {
                                if batched {
                                    f.write_all(&concat).unwrap();
                                } else {
                                    f.write_all(&v).unwrap();
                                }
                                f.sync_data().unwrap();
                            }
                        },
                        |f| {
                            drop(f);
                            std::fs::remove_file(&file_path).unwrap();
                        },
                    )
                });
            });

            let store = Store::open(dir.path().join("store")).unwrap();
            let mut seq = 0u64;
            g.bench_function("pagelog_every_append", |b| {
                b.iter_custom(|iters| {
                    common::chunked(
                        iters,
                        bytes_per_iter,
                        |_| {
                            seq += 1;
                            let name = format!("t{seq}");
                            let topic = store
                                .create_topic(
                                    &name,
                                    topic_config(Some(FlushPolicy::EveryAppend), bytes_per_iter),
                                )
                                .unwrap();
                            // The first append writes the "dirty" checkpoint: keep it out of
                            // the timed region as the raw file's creation is.
                            topic
                                .partition(0)
                                .unwrap()
                                .append(NewRecord::new(b"x"))
                                .unwrap();
                            PagelogChunk { topic, name }
                        },
                        |s, n| {
                            let p = s.topic.partition(0).unwrap();
                            if batched {
                                let recs: Vec<NewRecord<'_>> =
                                    batch_vals.iter().map(|x| NewRecord::new(x)).collect();
                                for _ in 0..n {
                                    black_box(p.append_batch(&recs).unwrap());
                                }
                            } else {
                                for _ in 0..n {
                                    black_box(p.append(NewRecord::new(&v)).unwrap());
                                }
                            }
                        },
                        |s| {
                            drop(s.topic);
                            store.delete_topic(&s.name).unwrap();
                        },
                    )
                });
            });

            if !batched {
                let cl_root = dir.path().join("commitlog");
                g.bench_function("commitlog_append_flush_NOT_durable", |b| {
                    b.iter_custom(|iters| {
                        common::chunked(
                            iters,
                            bytes_per_iter,
                            |n| {
                                seq += 1;
                                let d = cl_root.join(seq.to_string());
                                (CommitLog::new(commitlog_options(&d, n)).unwrap(), d)
                            },
                            |(log, _), n| {
                                for _ in 0..n {
                                    black_box(log.append_msg(&v).unwrap());
                                    log.flush().unwrap();
                                }
                            },
                            |(log, d)| {
                                drop(log);
                                std::fs::remove_dir_all(d).unwrap();
                            },
                        )
                    });
                });
            }
            g.finish();
            store.close().unwrap();
        }
    }
}

criterion_group!(benches, bench_nosync, bench_durable);
criterion_main!(benches);
