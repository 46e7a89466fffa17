/** The wgsl backend's target name and the `schedule wgsl` settings it accepts (accepted and ignored with W0921: tiles are sized from the device limits). */
export const TARGET = { name: 'wgsl', scheduleKeys: ['block_q', 'block_k', 'workgroup'] } as const;
