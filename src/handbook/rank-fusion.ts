/**
 * Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each ranking gives an item
 * 1 / (k + rank), and the sums order the fused list. It needs no calibration between the rankers'
 * scores (bm25 and cosine are not comparable), and k = 60 keeps one ranker's first place from
 * outweighing agreement of both further down.
 */
export const RRF_K = 60;

/** Fused scores of the items of several rankings (each best first, ranks from 1). */
export function reciprocalRankFusion<T>(rankings: readonly (readonly T[])[], k = RRF_K): Map<T, number> {
  const scores = new Map<T, number>();
  for (const ranking of rankings) {
    ranking.forEach((item, index) => {
      scores.set(item, (scores.get(item) ?? 0) + 1 / (k + index + 1));
    });
  }
  return scores;
}
