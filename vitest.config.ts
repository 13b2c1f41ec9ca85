import { defineConfig } from 'vitest/config';

const common = { exclude: ['**/node_modules/**', '**/dist/**'] };

/** Test tiers by suffix: `.unit.spec.ts` (pure, fast), `.int.spec.ts` (real adapters, processes), `.e2e.spec.ts` (whole system, browser). */
export default defineConfig({
  test: {
    pool: 'forks',
    // The JSON report lets .ci/run close on one plain 'N passed, N failed' line.
    reporters: ['default', ['json', { outputFile: process.env.VITEST_JSON_REPORT ?? 'test-output/vitest-results.json' }]],
    projects: [
      { test: { ...common, name: 'unit', include: ['**/*.unit.spec.ts'], testTimeout: 10_000 } },
      { test: { ...common, name: 'int', include: ['**/*.int.spec.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
      {
        test: {
          ...common,
          name: 'e2e',
          include: ['**/*.e2e.spec.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
