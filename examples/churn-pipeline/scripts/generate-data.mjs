// Generates the synthetic customer-churn data set shipped as `data/churn.csv`.
//
//   node examples/churn-pipeline/scripts/generate-data.mjs [--seed 20240611] [--rows 5000] [--out FILE]
//
// The output is a pure function of the seed and the row count: the same arguments write the same
// bytes on every machine (only integer arithmetic, Math.log/Math.exp/Math.cos/Math.sqrt, which V8
// computes with its own portable fdlibm port, and numbers written with toFixed). The test
// `src/generate-data.test.ts` checks that the committed file is what this script writes.
//
// Each row is one customer; how its columns are drawn is documented on `drawCustomer` below and in
// the example's README.

import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The seed of the committed `data/churn.csv`. */
export const DEFAULT_SEED = 20240611;
/** The number of customers in the committed `data/churn.csv`. */
export const DEFAULT_ROWS = 5000;

/** The CSV header: the feature columns, then the label `churned`. */
export const COLUMNS = [
  'tenure_months',
  'monthly_charges',
  'total_charges',
  'contract_month_to_month',
  'contract_one_year',
  'contract_two_year',
  'support_calls',
  'has_fiber',
  'paperless_billing',
  'age',
  'churned',
];

/**
 * The true model of churn: churned ~ Bernoulli(sigmoid(z)) with
 * z = intercept + sum(coefficient * column) + fiberMonthToMonth * has_fiber * contract_month_to_month
 *     + noise, noise ~ Normal(0, noiseStd).
 * The interaction term and the noise are what a logistic regression on the columns cannot see,
 * so it reaches a useful but imperfect ROC AUC (about 0.8).
 */
export const TRUE_MODEL = {
  intercept: -1.4,
  coefficients: {
    tenure_months: -0.04,
    monthly_charges: 0.018,
    contract_one_year: -0.9,
    contract_two_year: -1.8,
    support_calls: 0.35,
    paperless_billing: 0.35,
    age: -0.012,
  },
  fiberMonthToMonth: 0.7,
  noiseStd: 1.0,
};

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit-state generator, good enough for
 * simulation and tiny; the same algorithm as `createSeededRandom` in `@modelyard/core`.
 *
 * @param {number} seed any number; its low 32 bits are the state.
 * @returns {() => number} a function returning uniform numbers in [0, 1).
 */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A standard normal draw (Box-Muller, one of the pair).
 *
 * @param {() => number} random
 */
function normal(random) {
  const u = 1 - random(); // (0, 1]: log(0) is avoided
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A Poisson draw (Knuth's multiplication method; fine for small means).
 *
 * @param {() => number} random
 * @param {number} mean
 */
function poisson(random, mean) {
  const limit = Math.exp(-mean);
  let count = 0;
  let product = random();
  while (product > limit) {
    count += 1;
    product *= random();
  }
  return count;
}

/**
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/**
 * Draws one customer, in this order (the order is part of the format: changing it changes the
 * file):
 * - contract: month-to-month 55 %, one year 25 %, two years 20 % (one-hot in three columns);
 * - tenure_months: 1 + exponential with mean 14 / 30 / 44 months by contract, capped at 72;
 * - has_fiber: 45 %; paperless_billing: 60 %;
 * - monthly_charges: 25 + 45 * has_fiber + uniform(0, 30) + Normal(0, 5), within [18.25, 125];
 * - total_charges: tenure_months * monthly_charges * uniform(0.95, 1.05);
 * - support_calls: Poisson with mean 1.0 + 0.8 * has_fiber;
 * - age: Normal(45, 14) rounded, within [18, 85];
 * - churned: see {@link TRUE_MODEL}.
 *
 * @param {() => number} random
 * @returns {number[]} the values in {@link COLUMNS} order.
 */
function drawCustomer(random) {
  const contractDraw = random();
  const contract = contractDraw < 0.55 ? 0 : contractDraw < 0.8 ? 1 : 2;
  const meanTenure = [14, 30, 44][contract] ?? 14;
  const tenure = Math.min(72, 1 + Math.floor(-meanTenure * Math.log(1 - random())));
  const hasFiber = random() < 0.45 ? 1 : 0;
  const paperless = random() < 0.6 ? 1 : 0;
  const monthly = clamp(25 + 45 * hasFiber + 30 * random() + 5 * normal(random), 18.25, 125);
  const total = tenure * monthly * (0.95 + 0.1 * random());
  const supportCalls = poisson(random, 1.0 + 0.8 * hasFiber);
  const age = clamp(Math.round(45 + 14 * normal(random)), 18, 85);
  const oneHot = [contract === 0 ? 1 : 0, contract === 1 ? 1 : 0, contract === 2 ? 1 : 0];

  const c = TRUE_MODEL.coefficients;
  const z =
    TRUE_MODEL.intercept +
    c.tenure_months * tenure +
    c.monthly_charges * monthly +
    c.contract_one_year * (oneHot[1] ?? 0) +
    c.contract_two_year * (oneHot[2] ?? 0) +
    c.support_calls * supportCalls +
    c.paperless_billing * paperless +
    c.age * age +
    TRUE_MODEL.fiberMonthToMonth * hasFiber * (oneHot[0] ?? 0) +
    TRUE_MODEL.noiseStd * normal(random);
  const churned = random() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  return [tenure, monthly, total, ...oneHot, supportCalls, hasFiber, paperless, age, churned];
}

// Columns written with two decimals; the others are integers.
const MONEY = new Set(['monthly_charges', 'total_charges']);

/**
 * The CSV text of `rows` customers drawn with `seed`: a header line, then one line per customer,
 * each ending in '\n'.
 *
 * @param {{ seed?: number, rows?: number }} [options]
 * @returns {string}
 */
export function generateChurnCsv({ seed = DEFAULT_SEED, rows = DEFAULT_ROWS } = {}) {
  if (!Number.isInteger(rows) || rows < 1) {
    throw new RangeError(`rows must be a positive integer, got ${rows}.`);
  }
  const random = mulberry32(seed);
  const lines = [COLUMNS.join(',')];
  for (let i = 0; i < rows; i += 1) {
    const values = drawCustomer(random);
    lines.push(
      values
        .map((value, j) => (MONEY.has(COLUMNS[j] ?? '') ? value.toFixed(2) : String(value)))
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * @param {string[]} argv
 * @returns {{ seed: number, rows: number, out: string }}
 */
function parseArgs(argv) {
  const options = {
    seed: DEFAULT_SEED,
    rows: DEFAULT_ROWS,
    out: fileURLToPath(new URL('../data/churn.csv', import.meta.url)),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value.`);
    if (flag === '--seed' || flag === '--rows') {
      const number = Number(value);
      if (!Number.isInteger(number)) throw new Error(`${flag} must be an integer, got '${value}'.`);
      options[flag === '--seed' ? 'seed' : 'rows'] = number;
    } else if (flag === '--out') {
      options.out = value;
    } else {
      throw new Error(`Unknown flag '${flag}'; the flags are --seed N, --rows N and --out FILE.`);
    }
  }
  return options;
}

// Run as a script (not imported): write the file.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  const { seed, rows, out } = parseArgs(process.argv.slice(2));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, generateChurnCsv({ seed, rows }));
  console.log(`wrote ${rows} customers (seed ${seed}) to ${out}`);
}
