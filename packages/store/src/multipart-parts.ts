import { InvalidParameterError } from '@modelyard/core';
import type { UploadedPart } from './artifact-store.js';

/** S3's limits, kept by every adapter so that uploads behave the same everywhere. */
export const MAX_PART_NUMBER = 10_000;

/**
 * Checks a multipart part number: an integer from 1 to 10,000.
 *
 * @throws InvalidParameterError otherwise.
 */
export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new InvalidParameterError(
      `Part number ${JSON.stringify(partNumber)} is not allowed: ` +
        `use an integer from 1 to ${MAX_PART_NUMBER}.`,
      { partNumber },
    );
  }
}

/** An etag without the double quotes S3 puts around it, lower-cased. */
export function normaliseEtag(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1').toLowerCase();
}

/**
 * Validates the parts given to `completeMultipartUpload` and returns them in part-number order.
 *
 * @throws InvalidParameterError when the list is empty, a part number is out of range or
 * repeated, or an etag is empty.
 */
export function sortParts(path: string, uploadId: string, parts: UploadedPart[]): UploadedPart[] {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new InvalidParameterError(
      `Completing upload '${uploadId}' of artifact ${JSON.stringify(path)} needs at least one ` +
        `part, got none.`,
      { path, uploadId },
    );
  }
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  let previous = 0;
  for (const part of sorted) {
    checkPartNumber(part.partNumber);
    if (part.partNumber === previous) {
      throw new InvalidParameterError(
        `Part ${part.partNumber} is listed twice for upload '${uploadId}' of artifact ` +
          `${JSON.stringify(path)}. List each part once.`,
        { path, uploadId, partNumber: part.partNumber },
      );
    }
    previous = part.partNumber;
    if (typeof part.etag !== 'string' || part.etag === '') {
      throw new InvalidParameterError(
        `Part ${part.partNumber} of upload '${uploadId}' has etag ${JSON.stringify(part.etag)}; ` +
          `give the etag uploadPart returned for it.`,
        { path, uploadId, partNumber: part.partNumber, etag: part.etag },
      );
    }
  }
  return sorted;
}
