import type { Reporter, TestModule } from 'vitest/node'
import { defineConfig } from 'vitest/config'

/** Fails the run when zero tests ran (a broken glob must not pass CI silently). */
class NonEmptyRunReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let count = 0
    for (const m of testModules) count += [...m.children.allTests()].length
    if (count === 0) {
      console.error('vitest: no tests ran; failing (expected __test__/**/*.test.ts)')
      process.exitCode = 1
    }
  }
}

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    passWithNoTests: false,
    reporters: ['default', new NonEmptyRunReporter()],
  },
})
