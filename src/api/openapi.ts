import type { RouterRoute } from 'hono/types';
import { VERSION } from '../version.js';

/**
 * OpenAPI 3.1 document generated from the mounted routes, so it can never list a route that
 * does not exist or miss one that does. Bodies and results are described in docs/api.md.
 */
export function openApiDocument(routes: RouterRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = {
      parameters: params,
      security: path.startsWith('/api/v1') ? [{ bearer: [] }, { basic: [] }] : [],
      responses: {
        '200': { description: 'OK (JSON)' },
        '4XX': {
          description: 'Error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tripline API',
      version: VERSION,
      description: 'See docs/api.md for request and response bodies.',
    },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        basic: { type: 'http', scheme: 'basic' },
      },
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                field: { type: 'string' },
              },
            },
          },
        },
      },
    },
  };
}
