import { ValidationError } from './errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ALIAS = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_. -]{0,127}$/;

/** Team, project, registry, collection and user names: safe in URLs and W&B paths. */
export function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ValidationError(
      `${field} must be 1-128 characters: letters, digits, '_', '-', '.', starting with a letter or digit`,
      field,
    );
  }
  return value;
}

export function checkAlias(value: unknown, field = 'alias'): string {
  if (typeof value !== 'string' || !ALIAS.test(value)) {
    throw new ValidationError(`${field} must be 1-128 characters: letters, digits, '_', '-', '.'`, field);
  }
  if (/^v\d+$/.test(value))
    throw new ValidationError(`${field} "${value}" looks like a version; pick another`, field);
  if (value === 'latest') throw new ValidationError(`${field} "latest" is managed automatically`, field);
  return value;
}

export function checkTag(value: unknown, field = 'tag'): string {
  if (typeof value !== 'string' || !TAG.test(value)) {
    throw new ValidationError(
      `${field} must be 1-128 characters: letters, digits, '_', '-', '.', ' '`,
      field,
    );
  }
  return value;
}

export const RUN_STATES = ['RUNNING', 'FINISHED', 'FAILED', 'CRASHED', 'KILLED'] as const;
export const FINAL_STATES = new Set(['FINISHED', 'FAILED', 'CRASHED', 'KILLED']);
