import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The server's iris-like ONNX model folder (MLmodel, model.onnx, expected.json), shared by tests. */
export const IRIS_MODEL_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'server',
  'test',
  'fixtures',
  'iris-like-onnx',
);
