// The `chunktorrent` command (package @chunktorrent/cli): runs the command line and exits with its
// code. Commands close their client before they return, so nothing is cut short here; the exit is
// explicit so that a stray handle cannot keep a finished command alive.
import { main } from './program.ts'

const code = await main(process.argv)
process.exitCode = code
// Let stdout and stderr drain (pipes), then leave even if something still holds the event loop.
setTimeout(() => process.exit(code), 1000).unref()
