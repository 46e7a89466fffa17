/**
 * A model of the sm_90a kernel's barrier protocol (templates/kernel_sm90.cu.hbs: producer, consumer;
 * change it with them), run under random interleavings: one producer and the two consumer
 * warpgroups of a CTA over random work tiles (any row count, 0..5 key tiles), with and without half
 * tiles (the spec's sm90.halfTiles: a tile of <= 64 rows runs warpgroup 0 alone, warpgroup 1 only
 * passes its K/V stages on), turn-taking and the max-free softmax's barrier on or off, 3 or 4 stages.
 * mbarriers complete a phase at their arrival count and a parity wait passes while its phase is the
 * last completed one; named barriers complete at their thread count. Fails on a deadlock, on a parity
 * wait that passes for the wrong phase, on a named barrier that one side arrives at twice before the
 * other side's arrival (it would complete with the wrong threads), and on a stage's row count or a
 * tile slot read for another use than the reader's.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../runtime/random.js';

type Cond = () => boolean;
type Agent = Generator<Cond, void, void>;
const ALWAYS: Cond = () => true;

class MBar {
  done = 0; // completed phases
  pending = 0;
  constructor(readonly name: string, readonly count: number) {}
  arrive(n = 1): void {
    this.pending += n;
    if (this.pending > this.count) throw new Error(`${this.name}: ${this.pending} arrivals of ${this.count}`);
    if (this.pending === this.count) { this.done++; this.pending = 0; }
  }
}

/** mbarrier.try_wait.parity for phase k (parity k & 1): passes when phase k is the last completed one. */
function* waitPhase(b: MBar, k: number): Agent {
  yield () => (b.done & 1) !== (k & 1);
  if (b.done !== k + 1) throw new Error(`${b.name}: a wait for phase ${k} passed with ${b.done} phases completed`);
}

class NBar {
  gen = 0;
  pending = 0;
  who = new Set<string>();
  constructor(readonly name: string, readonly count: number) {}
  arrive(agent: string, n: number): void {
    if (this.who.has(agent)) throw new Error(`${this.name}: ${agent} arrives twice before the barrier completes`);
    this.who.add(agent);
    this.pending += n;
    if (this.pending === this.count) { this.gen++; this.pending = 0; this.who.clear(); }
  }
}
function* nsync(b: NBar, agent: string, n: number): Agent {
  const g = b.gen;
  b.arrive(agent, n);
  yield () => b.gen > g;
}

interface Tile { qrows: number; keys: number }
interface Options {
  stages: number; pingpong: boolean; maxFree: boolean; halfTiles: boolean;
  /** Broken protocols the model must refuse: warpgroup 0 takes turns in a half tile; warpgroup 1 passes a half tile's stages without its empty arrivals. */
  mutate?: 'turns-in-half' | 'no-empty';
}

function simulate(tiles: readonly Tile[], o: Options, rand: () => number): void {
  const S = o.stages;
  const full = Array.from({ length: S }, (_, s) => new MBar(`full[${s}]`, 1));
  const empty = Array.from({ length: S }, (_, s) => new MBar(`empty[${s}]`, 8));
  const tile = [0, 1].map((s) => new MBar(`tile[${s}]`, 1));
  const tileFree = [0, 1].map((s) => new MBar(`tile_free[${s}]`, 8));
  const turn = [0, 1].map((w) => new NBar(`BAR_TURN+${w}`, 256));
  const own = [0, 1].map((w) => new NBar(`BAR_CONSUMER+${w}`, 128));
  const rows: { use: number; n: number }[] = Array.from({ length: S }, () => ({ use: -1, n: -1 }));
  const infos: { it: number; tile: Tile | null }[] = [{ it: -1, tile: null }, { it: -1, tile: null }];

  function* producer(): Agent {
    let u = 0;
    for (let it = 0; ; ++it) {
      if (it >= 2) yield* waitPhase(tileFree[it & 1], (it >> 1) - 1);
      infos[it & 1] = { it, tile: tiles[it] ?? null };
      tile[it & 1].arrive();
      yield ALWAYS;
      const t = tiles[it];
      if (!t) return;
      for (let j = 0; j <= t.keys; ++j) { // j == keys: the end marker (0 rows)
        const s = u % S;
        if (u >= S) yield* waitPhase(empty[s], Math.floor(u / S) - 1);
        rows[s] = { use: u, n: j < t.keys ? 1 + j : 0 };
        yield ALWAYS; // (TMA or cp.async in flight)
        full[s].arrive();
        u++;
      }
    }
  }

  function* consumer(w: number): Agent {
    const me = `wg${w}`, other = 1 - w;
    const read = (use: number): number => {
      const r = rows[use % S];
      if (r.use !== use) throw new Error(`${me}: stage ${use % S} holds use ${r.use}, read for use ${use}`);
      return r.n;
    };
    let u = 0;
    for (let it = 0; ; ++it) {
      yield* waitPhase(tile[it & 1], it >> 1);
      const ti = infos[it & 1];
      if (ti.it !== it) throw new Error(`${me}: slot ${it & 1} holds tile ${ti.it}, read for tile ${it}`);
      if (!ti.tile) return;
      const half = o.halfTiles && ti.tile.qrows <= 64;
      if (half && w === 1) {
        for (;; ++u) {
          yield* waitPhase(full[u % S], Math.floor(u / S));
          const n = read(u);
          if (o.mutate !== 'no-empty') empty[u % S].arrive(4);
          if (n === 0) break;
        }
        ++u;
        tileFree[it & 1].arrive(4);
        continue;
      }
      const turns = o.pingpong && (!half || o.mutate === 'turns-in-half');
      yield* nsync(own[w], me, 128); // Q rows free (the previous epilogue is done)
      yield* nsync(own[w], me, 128); // Q rows loaded
      yield* waitPhase(full[u % S], Math.floor(u / S));
      let n = read(u);
      let j = 0;
      if (n > 0) {
        if (turns && w === 1) turn[0].arrive(me, 128);
        if (turns) yield* nsync(turn[w], me, 128);
        yield ALWAYS; // S_0
        if (turns) turn[other].arrive(me, 128);
        for (j = 1; ; ++j) {
          const st = (u + j) % S, prev = (u + j - 1) % S;
          yield* waitPhase(full[st], Math.floor((u + j) / S));
          n = read(u + j);
          if (turns) yield* nsync(turn[w], me, 128);
          else if (o.maxFree) yield* nsync(own[w], me, 128);
          if (n === 0) {
            if (turns && w === 0) turn[1].arrive(me, 128);
            yield ALWAYS; // the last P·V
            empty[prev].arrive(4);
            break;
          }
          yield ALWAYS; // S_j and P_{j-1}·V_{j-1}
          if (turns) turn[other].arrive(me, 128);
          yield ALWAYS; // softmax
          empty[prev].arrive(4);
        }
      }
      empty[(u + j) % S].arrive(4); // the end marker's slot
      u += j + 1;
      yield* nsync(own[w], me, 128); // epilogue
      if (infos[it & 1].it !== it) throw new Error(`${me}: slot ${it & 1} rewritten before its tile ${it} was done`);
      tileFree[it & 1].arrive(4);
    }
  }

  const agents = [{ name: 'producer', g: producer() }, { name: 'wg0', g: consumer(0) }, { name: 'wg1', g: consumer(1) }]
    .map((a) => ({ ...a, cond: ALWAYS as Cond, done: false }));
  for (let steps = 0; ; steps++) {
    if (steps > 1_000_000) throw new Error('no end');
    const live = agents.filter((a) => !a.done);
    if (live.length === 0) return;
    const ready = live.filter((a) => a.cond());
    if (ready.length === 0) throw new Error(`deadlock: ${live.map((a) => a.name).join(', ')} wait`);
    const a = ready[Math.floor(rand() * ready.length)];
    const r = a.g.next();
    if (r.done) a.done = true;
    else a.cond = r.value;
  }
}

describe('sm_90a barrier protocol (a model of the template\'s): no deadlock, every wait and read in its phase', () => {
  const seed = Number(process.env.GRATC_SEED ?? Date.now() % 1_000_000);
  for (const halfTiles of [false, true]) {
    it(`half tiles ${halfTiles ? 'on' : 'off'}: random tiles, interleavings and variants (seed ${seed})`, () => {
      const r = rng(seed + (halfTiles ? 1 : 0));
      for (let run = 0; run < 400; run++) {
        const o: Options = { stages: r() < 0.5 ? 3 : 4, pingpong: r() < 0.8, maxFree: r() < 0.7, halfTiles };
        const tiles = Array.from({ length: Math.floor(r() * 9) }, () => ({ qrows: [1, 32, 64, 65, 100, 128][Math.floor(r() * 6)], keys: Math.floor(r() * 6) }));
        expect(() => simulate(tiles, o, r), `run ${run}: ${JSON.stringify({ o, tiles })}`).not.toThrow();
      }
    });
  }

  for (const mutate of ['turns-in-half', 'no-empty'] as const) {
    it(`the model refuses a broken half-tile protocol (${mutate})`, () => {
      const r = rng(seed + 7);
      let failed = 0;
      for (let run = 0; run < 100; run++) {
        const tiles = Array.from({ length: 1 + Math.floor(r() * 6) }, () => ({ qrows: [32, 64, 128][Math.floor(r() * 3)], keys: 1 + Math.floor(r() * 4) }));
        try { simulate(tiles, { stages: 3, pingpong: true, maxFree: true, halfTiles: true, mutate }, r); } catch { failed++; }
      }
      expect(failed).toBeGreaterThan(50);
    });
  }
});
