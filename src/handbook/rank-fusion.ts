/**
 * Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives an item
 * 1 / (k + rank), and the sums order the fused list. It needs no calibration between the rankers'
 * scores (bm25 and cosine are not comparable), and k = 60 keeps one ranker's first place from
 * outweighing agreement of both further down.
 */
export const RRF_K = 60;

/** Fused scores of the items of several rankings (each best first, ranks from 1), each ranking counted at its weight (default 1). */
export function reciprocalRankFusion<T>(rankings: readonly (readonly T[])[], options: { k?: number; weights?: readonly number[] } = {}): Map<T, number> {
  const k = options.k ?? RRF_K;
  const scores = new Map<T, number>();
  rankings.forEach((ranking, r) => {
    const weight = options.weights?.[r] ?? 1;
    ranking.forEach((item, index) => {
      scores.set(item, (scores.get(item) ?? 0) + weight / (k + index + 1));
    });
  });
  return scores;
}
