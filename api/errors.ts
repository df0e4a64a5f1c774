// Errors the API answers with. Every error body has the same shape and the request id, and a
// validation error names the field and the reason.
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const invalidField = (field: string, reason: string) =>
  new ApiError(400, 'invalid_request', `${field}: ${reason}`, field);

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const requestId = String(res.locals.requestId ?? '');
    let apiError: ApiError;
    if (error instanceof ApiError) {
      apiError = error;
    } else if (error?.type === 'entity.parse.failed') {
      apiError = new ApiError(400, 'invalid_json', 'request body is not valid JSON');
    } else if (error?.type === 'entity.too.large') {
      apiError = new ApiError(413, 'body_too_large', `request body exceeds ${error.limit} bytes`);
    } else if (error?.type === 'encoding.unsupported' || error?.type === 'charset.unsupported') {
      apiError = new ApiError(415, 'unsupported_media_type', String(error.message));
    } else {
      logger.error({ err: error, requestId, path: req.path }, 'unhandled error');
      apiError = new ApiError(500, 'internal_error', 'internal error; the request was not applied');
    }
    res.status(apiError.status).json({
      error: {
        type: apiError.type,
        message: apiError.message,
        ...(apiError.field ? { field: apiError.field } : {}),
        requestId,
      },
    });
  };
}
