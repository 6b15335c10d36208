import { ValidationError } from '../../model/errors.js';
import { MAX_ROWS_PER_BATCH, parseHistoryRows } from '../../tracking/runs.js';
import {
  EVENTS_FILE,
  HISTORY_FILE,
  parseLenientJson,
  type StreamChunk,
  type StreamRow,
  SUMMARY_FILE,
  systemMetricName,
} from '../../tracking/wandb-runs.js';
import { parseJsonObject } from '../http.js';

/**
 * Parses and validates a whole file_stream body before anything is stored, so a malformed body is
 * a 400 that changes nothing. The body, as W&B's clients send it:
 *
 *   {"files": {"wandb-history.jsonl": {"offset": 12, "content": ["{\"_step\":12,\"loss\":0.5,…}", …]},
 *              "wandb-summary.json": {"offset": 0, "content": ["{…the whole summary…}"]},
 *              "wandb-events.jsonl": {"offset": 3, "content": ["{\"system.cpu\":12.5,…}"]},
 *              "output.log": {…}},
 *    "complete": true, "exitcode": 0}
 *
 * `offset` is the line number of the first line of `content` in that file. Lines may hold the bare
 * tokens NaN, Infinity and -Infinity (Python's json.dumps writes them). Other files (console output)
 * and other top-level keys (`uploaded`, `preempting`, `dropped`) are accepted and ignored.
 */
export function parseFileStreamBody(text: string): StreamChunk {
  const b = parseJsonObject(text);
  const chunk: StreamChunk = {};

  if (b.files !== undefined && b.files !== null) {
    if (typeof b.files !== 'object' || Array.isArray(b.files)) {
      throw new ValidationError('files must be an object of file name → {offset, content}', 'files');
    }
    for (const [name, raw] of Object.entries(b.files as Record<string, unknown>)) {
      const field = `files["${name}"]`;
      const file = checkFile(raw, field);
      if (file.content.length === 0) continue;
      if (name === HISTORY_FILE) {
        const objects = file.content.map((line, i) => parseLine(line, `${field}.content[${i}]`));
        chunk.history = { offset: file.offset, rows: toRows(objects, `${field}.content`) };
      } else if (name === EVENTS_FILE) {
        // System metrics rows have no _step: their line number is their sequence number.
        const objects = file.content.map((line, i) => {
          const o = parseLine(line, `${field}.content[${i}]`);
          const row: Record<string, unknown> = { _step: file.offset + i };
          for (const [k, v] of Object.entries(o))
            if (k !== '_wandb' && k !== '_step') row[systemMetricName(k)] = v;
          return row;
        });
        chunk.events = { offset: file.offset, rows: toRows(objects, `${field}.content`) };
      } else if (name === SUMMARY_FILE) {
        // Each line is the whole summary; the last one is current.
        const last = file.content.length - 1;
        chunk.summary = parseLine(file.content[last], `${field}.content[${last}]`);
      }
    }
  }

  if (b.complete !== undefined && b.complete !== null) {
    if (typeof b.complete !== 'boolean') throw new ValidationError('complete must be a boolean', 'complete');
    if (b.complete) {
      const code = b.exitcode;
      if (typeof code !== 'number' || !Number.isInteger(code)) {
        throw new ValidationError('exitcode must be an integer when complete is true', 'exitcode');
      }
      chunk.complete = { exitcode: code };
    }
  }
  return chunk;
}

function checkFile(raw: unknown, field: string): { offset: number; content: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError(`${field} must be an object {offset, content}`, field);
  }
  const { offset = 0, content } = raw as { offset?: unknown; content?: unknown };
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > 2 ** 31 - 1) {
    throw new ValidationError(`${field}.offset must be a non-negative integer`, `${field}.offset`);
  }
  if (!Array.isArray(content) || content.some((l) => typeof l !== 'string')) {
    throw new ValidationError(`${field}.content must be an array of strings`, `${field}.content`);
  }
  return { offset, content: content as string[] };
}

function parseLine(line: string, field: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = parseLenientJson(line);
  } catch (err) {
    throw new ValidationError(`${field} is not valid JSON: ${(err as Error).message}`, field);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ValidationError(`${field} must be a JSON object`, field);
  }
  return v as Record<string, unknown>;
}

/** The REST API's row validation (and NaN/Infinity encoding), in slices of its batch limit. */
function toRows(objects: Record<string, unknown>[], field: string): StreamRow[] {
  const rows: StreamRow[] = [];
  for (let i = 0; i < objects.length; i += MAX_ROWS_PER_BATCH) {
    rows.push(...parseHistoryRows(objects.slice(i, i + MAX_ROWS_PER_BATCH), field));
  }
  return rows;
}
