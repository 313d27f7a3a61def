// Percentiles for benchmark output.
export function percentiles(values: number[], ps = [50, 90, 99]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  const out: Record<string, number> = { n: sorted.length };
  for (const p of ps) out[`p${p}`] = round(at(p));
  out.max = round(sorted.at(-1) ?? NaN);
  return out;
}

export const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;
