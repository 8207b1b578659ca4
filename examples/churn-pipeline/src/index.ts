/**
 * The churn example's building blocks, plain functions the pipeline steps call: load the
 * committed data set, split it, train a logistic regression, evaluate it, export it as an MLflow
 * model folder holding a real ONNX graph, and decide whether it beats the champion.
 *
 * @packageDocumentation
 */
export * from './dataset.js';
export * from './train.js';
export * from './evaluate.js';
export * from './onnx-export.js';
