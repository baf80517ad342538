// The `chunktorrent` command (package @chunktorrent/cli): runs the command line and exits with its
// code. Commands close their client before they return, so nothing is cut short here; the exit is
// explicit so that a stray handle cannot keep a finished command alive.
import { main } from './program.ts'

// libuv's thread pool runs the chunk store's file I/O, its per-chunk datasyncs among it (all threads
// but one), and Node starts it with 4 threads. bench:storage (1 GiB of 256 KiB pieces) wrote through
// the store in 0.86-0.93 s with 16 threads against 0.94-1.44 s with 4, plain fs taking 0.84-1.15 s.
// Unless the environment sizes the pool, the command asks for 16. This runs before any asynchronous
// call (the imports above make none), so the pool starts at that size.
process.env.UV_THREADPOOL_SIZE ??= '16'
const code = await main(process.argv)
process.exitCode = code
// Let stdout and stderr drain (pipes), then leave even if something still holds the event loop.
setTimeout(() => process.exit(code), 1000).unref()
