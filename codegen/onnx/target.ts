/** The onnx backend's target name and the `schedule onnx` settings it accepts (query rows per batched op (lower.ts)). */
export const TARGET = { name: 'onnx', scheduleKeys: ['query_chunk'] } as const;
