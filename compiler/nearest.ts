/** "Did you mean" hints for the checker, on top of dsl/suggest's nearest-name search. */
import { nearest } from '../dsl/suggest.js';

export const didYouMean = (word: string, candidates: readonly string[]): { hint?: string } => {
  const n = nearest(word, candidates);
  return n ? { hint: `did you mean '${n}'?` } : { hint: `expected one of: ${candidates.join(', ')}` };
};
