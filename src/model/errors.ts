/**
 * Errors that reach users. The API maps them to `{"error":{"code","message","field"?}}` with a 4xx status.
 * Anything else thrown is a bug and becomes a 500 with a generic message.
 */
export class AppError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** Bad input: names the field (dotted path, e.g. `event.filter.threshold_filter.window_size`). */
export class ValidationError extends AppError {
  constructor(message: string, field?: string) {
    super(400, 'invalid_request', message, field);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super(404, 'not_found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends AppError {
  constructor(message: string, field?: string) {
    super(409, 'conflict', message, field);
    this.name = 'ConflictError';
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(403, 'forbidden', message);
    this.name = 'ForbiddenError';
  }
}
