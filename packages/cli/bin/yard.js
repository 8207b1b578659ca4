#!/usr/bin/env node
// Thin launcher so the `yard` bin link exists before the TypeScript build has run.
import '../dist/bin.js';
