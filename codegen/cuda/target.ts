/** The cuda backend's target name and the `schedule cuda` settings it accepts (sm_80 tile shape (spec.ts: tilingOf checks the values)). */
export const TARGET = { name: 'cuda', scheduleKeys: ['block_q', 'block_k', 'warps', 'stages'] } as const;
