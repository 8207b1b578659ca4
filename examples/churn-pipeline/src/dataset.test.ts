import { describe, expect, it } from 'vitest';
import {
  CHURN_LABEL,
  fitStandardizer,
  loadChurnTable,
  parseCsv,
  selectRows,
  standardize,
  stratifiedSplit,
} from './dataset.js';
import type { Table } from './dataset.js';

const CSV = 'a,churned,b\n1,0,2.5\n3,1,-4\n\n';

/** A table whose feature `id` is the row's index, half positives. */
function indexedTable(rows: number): Table {
  return {
    featureNames: ['id'],
    labelName: 'y',
    features: Float32Array.from({ length: rows }, (_, i) => i),
    labels: Uint8Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? 1 : 0)),
    rowCount: rows,
  };
}

describe('parseCsv', () => {
  it('reads features in column order and the label apart', () => {
    const table = parseCsv(CSV);
    expect(table.featureNames).toEqual(['a', 'b']);
    expect(table.labelName).toBe('churned');
    expect(Array.from(table.features)).toEqual([1, 2.5, 3, -4]);
    expect(Array.from(table.labels)).toEqual([0, 1]);
    expect(table.rowCount).toBe(2);
  });

  it('names the line and the value it cannot read', () => {
    expect(() => parseCsv('a,b\n1,2\n', { source: 'x.csv' })).toThrow(
      /x.csv: the header has no label column 'churned'; its columns are a, b/,
    );
    expect(() => parseCsv('a,churned\n1,0\n2\n')).toThrow(/csv:3 has 1 cells; the header has 2/);
    expect(() => parseCsv('a,churned\n1,0\nabc,1\n')).toThrow(
      /csv:3: column 'a' holds 'abc', which is not a finite number/,
    );
    expect(() => parseCsv('a,churned\n1,2\n')).toThrow(/the label 'churned' is 2/);
  });
});

describe('the committed churn data set', () => {
  it('has 5,000 customers, ten features and about 28 % churn', async () => {
    const table = await loadChurnTable();
    expect(table.rowCount).toBe(5000);
    expect(table.labelName).toBe(CHURN_LABEL);
    expect(table.featureNames).toEqual([
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
    ]);
    const rate = table.labels.reduce((sum, label) => sum + label, 0) / table.rowCount;
    expect(rate).toBeGreaterThan(0.2);
    expect(rate).toBeLessThan(0.35);
  });
});

describe('stratifiedSplit', () => {
  it('puts each row in exactly one split and keeps the class shares', () => {
    const table = indexedTable(1000);
    const { train, test } = stratifiedSplit(table, { testFraction: 0.2, seed: 7 });
    expect(test.rowCount).toBe(200);
    expect(train.rowCount).toBe(800);
    const ids = [...train.features, ...test.features].sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // 250 positives: 50 in test, 200 in train.
    expect(test.labels.reduce((sum, label) => sum + label, 0)).toBe(50);
    expect(train.labels.reduce((sum, label) => sum + label, 0)).toBe(200);
    // Labels travel with their rows.
    test.features.forEach((id, k) => {
      expect(test.labels[k]).toBe(id % 4 === 0 ? 1 : 0);
    });
  });

  it('gives the same split for the same seed and another for another seed', () => {
    const table = indexedTable(500);
    const first = stratifiedSplit(table, { seed: 1 });
    const again = stratifiedSplit(table, { seed: 1 });
    const other = stratifiedSplit(table, { seed: 2 });
    expect(Array.from(again.test.features)).toEqual(Array.from(first.test.features));
    expect(Array.from(other.test.features)).not.toEqual(Array.from(first.test.features));
  });

  it('refuses a fraction outside (0, 1) and a class it would empty', () => {
    expect(() => stratifiedSplit(indexedTable(10), { testFraction: 1 })).toThrow(
      /testFraction is 1/,
    );
    expect(() => stratifiedSplit(indexedTable(8), { testFraction: 0.1 })).toThrow(
      /Class 1 has 2 rows; a test fraction of 0.1 would leave the test set without it/,
    );
  });
});

describe('standardisation', () => {
  it('fits means and population standard deviations, 1 for a constant feature', () => {
    const table = parseCsv('x,k,churned\n1,10,0\n3,10,1\n');
    const standardizer = fitStandardizer(table);
    expect(Array.from(standardizer.mean)).toEqual([2, 10]);
    expect(Array.from(standardizer.std)).toEqual([1, 1]);
    expect(Array.from(standardize(table.features, standardizer))).toEqual([-1, 0, 1, 0]);
  });

  it('refuses values that do not make whole rows', () => {
    const standardizer = { mean: Float32Array.of(0, 0), std: Float32Array.of(1, 1) };
    expect(() => standardize(Float32Array.of(1, 2, 3), standardizer)).toThrow(
      /3 values do not make whole rows of 2 features/,
    );
  });

  it('selects rows by index and refuses one out of range', () => {
    const table = indexedTable(5);
    expect(Array.from(selectRows(table, [4, 0]).features)).toEqual([4, 0]);
    expect(() => selectRows(table, [5])).toThrow(/Row index 5 is out of range/);
  });
});
