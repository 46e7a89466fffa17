/**
 * `npx gratc` prints nothing from npm. npm 11 warned 'Unknown project config
 * "onnxruntime-node-install"' on every call while .npmrc carried onnxruntime-node's own
 * setting; its install script is now denied through npm's allowScripts policy in package.json
 * (the script only downloads the CUDA execution provider; the CPU and WebGPU providers ship in
 * the package, which the onnx tests load).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

describe('npm', () => {
  it('npx gratc --version prints the version and no npm warning', () => {
    const r = spawnSync('npx', ['--no-install', 'gratc', '--version'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.stderr).toBe('');
  });

  it('the install-script policy: onnxruntime-node denied, the scripts that matter allowed', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts).toMatchObject({ 'onnxruntime-node': false, esbuild: true, webgpu: true });
    // every dependency with an install script is reviewed (npm lists unreviewed ones on install)
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([k]) => k.replace(/^.*node_modules\//, ''));
    expect(withScripts.filter((n) => !(n in pkg.allowScripts!))).toEqual([]);
    if (existsSync(join(ROOT, '.npmrc'))) expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).not.toMatch(/onnxruntime-node-install/);
  });
});
