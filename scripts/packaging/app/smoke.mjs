// ESM consumer: the package's `import` entry.
import * as kavach from 'kavach-sdk'
import exercise from './exercise.cjs'

exercise(kavach, 'esm')
