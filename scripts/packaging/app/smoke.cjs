'use strict'
// CommonJS consumer: the package's `require` entry.
require('./exercise.cjs')(require('kavach-sdk'), 'cjs')
