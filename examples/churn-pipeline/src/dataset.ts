import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InvalidParameterError, createSeededRandom } from '@modelyard/core';

/** Where the committed data set lives (written by `scripts/generate-data.mjs`). */
export const CHURN_CSV_PATH = fileURLToPath(new URL('../data/churn.csv', import.meta.url));

/** The label column of the churn data set. */
export const CHURN_LABEL = 'churned';

/**
 * A numeric table with a binary label: the features of row `i` are
 * `features.subarray(i * featureNames.length, (i + 1) * featureNames.length)`, in the order of
 * `featureNames` (row-major, the layout of an ONNX `[N, F]` float32 tensor).
 */
export interface Table {
  /** The feature columns, in order. */
  readonly featureNames: readonly string[];
  /** The name of the label column. */
  readonly labelName: string;
  /** `rowCount * featureNames.length` values, row after row. */
  readonly features: Float32Array;
  /** One 0/1 label per row. */
  readonly labels: Uint8Array;
  /** The number of rows. */
  readonly rowCount: number;
}

/** Options of {@link parseCsv}. */
export interface ParseCsvOptions {
  /** The column that holds the 0/1 label; the other columns are features. Default `churned`. */
  labelColumn?: string;
  /** Where the text came from, for messages. Default `csv`. */
  source?: string;
}

/**
 * Parses a CSV of numbers with a header line (no quoting: the data sets here have none) into a
 * {@link Table}. Blank lines are skipped.
 *
 * @throws InvalidParameterError naming the line and the value when the header lacks the label
 *   column, a line has the wrong number of cells, a cell is not a finite number, or a label is
 *   not 0 or 1.
 */
export function parseCsv(text: string, options: ParseCsvOptions = {}): Table {
  const { labelColumn = CHURN_LABEL, source = 'csv' } = options;
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((name) => name.trim());
  const labelIndex = header.indexOf(labelColumn);
  if (labelIndex === -1) {
    throw new InvalidParameterError(
      `${source}: the header has no label column '${labelColumn}'; its columns are ` +
        `${header.join(', ')}. Pass labelColumn to name another one.`,
      { source, labelColumn, header },
    );
  }
  const featureNames = header.filter((_, index) => index !== labelIndex);
  const width = header.length;
  const values: number[] = [];
  const labels: number[] = [];
  for (let lineIndex = 1; lineIndex < lines.length; lineIndex += 1) {
    const line = lines[lineIndex] ?? '';
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const lineNumber = lineIndex + 1;
    if (cells.length !== width) {
      throw new InvalidParameterError(
        `${source}:${lineNumber} has ${cells.length} cells; the header has ${width} (${header.join(', ')}).`,
        { source, line: lineNumber, cells: cells.length, expected: width },
      );
    }
    cells.forEach((cell, column) => {
      const value = cell.trim() === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(value)) {
        throw new InvalidParameterError(
          `${source}:${lineNumber}: column '${header[column] ?? column}' holds '${cell}', which ` +
            'is not a finite number.',
          { source, line: lineNumber, column: header[column], value: cell },
        );
      }
      if (column !== labelIndex) {
        values.push(value);
      } else if (value === 0 || value === 1) {
        labels.push(value);
      } else {
        throw new InvalidParameterError(
          `${source}:${lineNumber}: the label '${labelColumn}' is ${cell}; labels must be 0 or 1.`,
          { source, line: lineNumber, value: cell },
        );
      }
    });
  }
  return {
    featureNames,
    labelName: labelColumn,
    features: Float32Array.from(values),
    labels: Uint8Array.from(labels),
    rowCount: labels.length,
  };
}

/**
 * Reads and parses the churn CSV (by default the committed `data/churn.csv`).
 *
 * @throws InvalidParameterError when the file is missing or malformed.
 */
export async function loadChurnTable(path: string = CHURN_CSV_PATH): Promise<Table> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidParameterError(
      `Cannot read the churn data set at ${path}: ${(error as Error).message}. ` +
        'Regenerate it with `node examples/churn-pipeline/scripts/generate-data.mjs`.',
      { path },
    );
  }
  return parseCsv(text, { source: path });
}

/** The rows of `table` at `indices`, in that order. */
export function selectRows(table: Table, indices: readonly number[]): Table {
  const width = table.featureNames.length;
  const features = new Float32Array(indices.length * width);
  const labels = new Uint8Array(indices.length);
  indices.forEach((row, k) => {
    if (!Number.isInteger(row) || row < 0 || row >= table.rowCount) {
      throw new InvalidParameterError(
        `Row index ${row} is out of range; the table has ${table.rowCount} rows.`,
        { row, rowCount: table.rowCount },
      );
    }
    features.set(table.features.subarray(row * width, (row + 1) * width), k * width);
    labels[k] = table.labels[row] ?? 0;
  });
  return {
    featureNames: table.featureNames,
    labelName: table.labelName,
    features,
    labels,
    rowCount: indices.length,
  };
}

/** Options of {@link stratifiedSplit}. */
export interface SplitOptions {
  /** The share of each class that goes to the test split, in (0, 1). Default 0.2. */
  testFraction?: number;
  /** Seeds the shuffle: the same seed gives the same split. Default 42. */
  seed?: number;
}

/** A train/test split of a table. */
export interface Split {
  readonly train: Table;
  readonly test: Table;
}

/**
 * Splits a table into train and test sets with the same share of positives in each: the rows of
 * each class are shuffled (Fisher-Yates, seeded with `seed`) and `round(testFraction * count)`
 * of them go to the test set. Both sets keep the table's row order.
 *
 * @throws InvalidParameterError when `testFraction` is not in (0, 1) or a class would leave a
 *   set empty.
 */
export function stratifiedSplit(table: Table, options: SplitOptions = {}): Split {
  const { testFraction = 0.2, seed = 42 } = options;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new InvalidParameterError(
      `testFraction is ${testFraction}; it must be between 0 and 1 (exclusive), e.g. 0.2.`,
      { testFraction },
    );
  }
  const random = createSeededRandom(seed);
  const trainRows: number[] = [];
  const testRows: number[] = [];
  for (const label of [0, 1]) {
    const rows: number[] = [];
    table.labels.forEach((value, row) => {
      if (value === label) rows.push(row);
    });
    for (let i = rows.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      const swap = rows[i] ?? 0;
      rows[i] = rows[j] ?? 0;
      rows[j] = swap;
    }
    const testCount = Math.round(testFraction * rows.length);
    if (testCount === 0 || testCount === rows.length) {
      throw new InvalidParameterError(
        `Class ${label} has ${rows.length} rows; a test fraction of ${testFraction} would leave ` +
          `the ${testCount === 0 ? 'test' : 'train'} set without it. Use more data or another ` +
          'fraction.',
        { label, rows: rows.length, testFraction },
      );
    }
    testRows.push(...rows.slice(0, testCount));
    trainRows.push(...rows.slice(testCount));
  }
  const ascending = (a: number, b: number): number => a - b;
  return {
    train: selectRows(table, trainRows.sort(ascending)),
    test: selectRows(table, testRows.sort(ascending)),
  };
}

/** Per-feature mean and standard deviation, fitted on training data. */
export interface Standardizer {
  /** One mean per feature, as float32 (the precision the ONNX graph uses). */
  readonly mean: Float32Array;
  /**
   * One population standard deviation per feature, as float32; 1 for a constant feature (so
   * standardising it gives 0 instead of dividing by zero).
   */
  readonly std: Float32Array;
}

/**
 * Fits a {@link Standardizer} on a table's features (fit it on the training split only, so the
 * test split stays unseen).
 *
 * @throws InvalidParameterError when the table has no rows.
 */
export function fitStandardizer(table: Table): Standardizer {
  const width = table.featureNames.length;
  if (table.rowCount === 0) {
    throw new InvalidParameterError('Cannot fit a standardizer on a table with no rows.', {});
  }
  const sum = new Float64Array(width);
  for (let i = 0; i < table.features.length; i += 1) {
    sum[i % width] = (sum[i % width] ?? 0) + (table.features[i] ?? 0);
  }
  const mean = sum.map((total) => total / table.rowCount);
  const squares = new Float64Array(width);
  for (let i = 0; i < table.features.length; i += 1) {
    const centred = (table.features[i] ?? 0) - (mean[i % width] ?? 0);
    squares[i % width] = (squares[i % width] ?? 0) + centred * centred;
  }
  const std = squares.map((total) => {
    const deviation = Math.sqrt(total / table.rowCount);
    return deviation > 0 ? deviation : 1;
  });
  return { mean: Float32Array.from(mean), std: Float32Array.from(std) };
}

/**
 * `(x - mean) / std` for every value of row-major `features`, as float64 (the training and
 * prediction arithmetic), using the standardizer's float32 parameters.
 *
 * @throws InvalidParameterError when `features.length` is not a multiple of the feature count.
 */
export function standardize(features: Float32Array, standardizer: Standardizer): Float64Array {
  const width = standardizer.mean.length;
  if (width === 0 || features.length % width !== 0) {
    throw new InvalidParameterError(
      `${features.length} values do not make whole rows of ${width} features.`,
      { values: features.length, featureCount: width },
    );
  }
  const out = new Float64Array(features.length);
  for (let i = 0; i < features.length; i += 1) {
    const j = i % width;
    out[i] = ((features[i] ?? 0) - (standardizer.mean[j] ?? 0)) / (standardizer.std[j] ?? 1);
  }
  return out;
}
