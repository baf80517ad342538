// Repetitions of the variants being compared, interleaved (a, b, a, b, …) so that whatever the
// machine is doing meanwhile hits every variant alike.

export interface RunContext<V extends string> {
  variant: V
  /** 0-based repetition of this variant. */
  repetition: number
  /** 0-based position in the whole sequence. */
  step: number
  steps: number
}

/**
 * Runs `run` `repetitions` times for each variant, in the order v1, v2, …, v1, v2, …, and returns
 * the results by variant (in run order). A failing run stops everything (rethrown).
 */
export async function interleave<V extends string, R>(
  variants: readonly V[],
  repetitions: number,
  run: (context: RunContext<V>) => Promise<R>,
  options: { log?: (line: string) => void; describe?: (result: R) => string } = {},
): Promise<Record<V, R[]>> {
  const results = Object.fromEntries(variants.map((variant) => [variant, [] as R[]])) as Record<V, R[]>
  const steps = variants.length * repetitions
  let step = 0
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const variant of variants) {
      const started = performance.now()
      const result = await run({ variant, repetition, step, steps })
      results[variant].push(result)
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      options.log?.(
        `[${step + 1}/${steps}] ${variant} #${repetition + 1} (${seconds} s)${options.describe ? `: ${options.describe(result)}` : ''}`,
      )
      step++
    }
  }
  return results
}
