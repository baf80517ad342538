// Shared helpers for the benchmarks in bench/: repetitions interleaved across variants, medians
// with ranges, /proc measurements of processes, child processes that report a JSON result, a
// tmpfs scratch directory, real-disk scratch directories with du-style usage, and the table plus
// final JSON line every benchmark prints, and build stamps of the code measured; memory peaks a
// child samples inside itself, and the loopback peers and client options of the download benchmarks.

export * from './build.ts'
export * from './child.ts'
export * from './disk.ts'
export * from './env.ts'
export * from './format.ts'
export * from './inside.ts'
export * from './loopback.ts'
export * from './proc.ts'
export * from './runner.ts'
export * from './scratch.ts'
export * from './stats.ts'
