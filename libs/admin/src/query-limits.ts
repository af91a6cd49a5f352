import { ApiError, ErrorCode } from '@app/core';
import type { ApolloServerPlugin } from '@apollo/server';
import { Injectable, NestMiddleware } from '@nestjs/common';
import type { ComplexityEstimator as FieldComplexity } from '@nestjs/graphql';
import type { NextFunction, Request, Response } from 'express';
import {
  FragmentDefinitionNode,
  getNullableType,
  getVariableValues,
  GraphQLError,
  isListType,
  Kind,
  Lexer,
  SelectionSetNode,
  Source,
  TokenKind,
} from 'graphql';
import { ComplexityEstimator, fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';

/**
 * What one operation of the admin API may ask for, all in one place (docs/api.md lists them). Generous
 * for the console (a page of 500 batches with their SKUs and providers, or one batch with 1,000 request
 * rows, its deliveries, SKU and provider), far below what took the process down: hundreds of aliases
 * of `batches(first: 500)`, or every batch of a page with a thousand request rows each.
 */
export const ADMIN_QUERY_LIMITS = {
  /** Lexical tokens in the document, counted before Apollo parses or validates it. */
  maxTokens: 5_000,
  /** Nested fields, introspection included (the standard introspection query is 15 deep). */
  maxDepth: 15,
  /** Aliased fields; a fragment's aliases count each time it is spread. */
  maxAliases: 20,
  /** Fields and fragments once every fragment spread is expanded. */
  maxSelections: 5_000,
  /** Estimated cost: 1 per field, times the page size for paged lists (see the estimators below). */
  maxCost: 25_000,
  /** Items assumed for a list without a page argument (deliveries, attempts, metadata, accounts…). */
  assumedListSize: 10,
  /** Extra cost of a field that runs its own database query per parent (`Batch.requests`). */
  queryCost: 10,
  /** Largest `batches(first:)`. */
  batchesPageMax: 500,
  /** `requests(first:)` is clamped to 1..this. */
  requestRowsMax: 1_000,
  /**
   * Cost of `Batch.request(line:)`, which reads one stored answer (up to `responseBodyMaxBytes`): an
   * operation reads at most 25 of them (1.6 MiB), so `batches(first: n) { request(line: 1) }` stops at n = 24.
   */
  requestDetailCost: 1_000,
  /** Bytes of a stored answer `Batch.request(line:)` returns at most (`truncated` says it was cut). */
  responseBodyMaxBytes: 65_536,
} as const;

/** The rows `Batch.requests(first:)` returns at most. */
export function requestRowsPageSize(first: number): number {
  return Math.min(Math.max(first, 1), ADMIN_QUERY_LIMITS.requestRowsMax);
}

/** Cost of a paged field: `perCall`, plus each of its `first` items (at most `max`) at the cost of its selection. */
export function pagedCost(perCall: number, max: number): FieldComplexity {
  return ({ args, childComplexity }) => perCall + Math.min(Math.max(Number(args.first) || 1, 1), max) * childComplexity;
}

/** Cost of the list inside a page (`edges`, `rows`): its items are already counted by the paged field above it. */
export const countedByPage: FieldComplexity = ({ childComplexity }) => 1 + childComplexity;

/**
 * A list without a page argument: assume `assumedListSize` items. Introspection's lists are left at one
 * each: they read the schema in memory, and graphql-js already caps how deep they nest.
 */
const unpagedListCost: ComplexityEstimator = ({ type, field, childComplexity }) =>
  isListType(getNullableType(field.type)) && !type.name.startsWith('__') ? 1 + ADMIN_QUERY_LIMITS.assumedListSize * childComplexity : undefined;

const ESTIMATORS = [fieldExtensionsEstimator(), unpagedListCost, simpleEstimator({ defaultComplexity: 1 })];

interface Shape {
  depth: number;
  aliases: number;
  selections: number;
}

const NOTHING: Shape = { depth: 0, aliases: 0, selections: 0 };

/**
 * Depth, aliases and selections of a selection set with its fragments expanded. Each fragment is
 * measured once (a spread reuses the figures), so a document that spreads fragments into each other
 * costs time in its own size, not in the size of its expansion.
 */
function measure(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, measured: Map<string, Shape>): Shape {
  const shape = { depth: 0, aliases: 0, selections: 0 };
  for (const selection of set.selections) {
    let inner = NOTHING;
    let levels = 0;
    if (selection.kind === Kind.FIELD) {
      levels = 1;
      if (selection.alias) shape.aliases += 1;
      if (selection.selectionSet) inner = measure(selection.selectionSet, fragments, measured);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      inner = measure(selection.selectionSet, fragments, measured);
    } else {
      const name = selection.name.value;
      if (!measured.has(name)) {
        measured.set(name, NOTHING); // validation already refused fragment cycles; this only guards the walk
        const fragment = fragments.get(name);
        if (fragment) measured.set(name, measure(fragment.selectionSet, fragments, measured));
      }
      inner = measured.get(name)!;
    }
    shape.depth = Math.max(shape.depth, levels + inner.depth);
    shape.aliases += inner.aliases;
    shape.selections += 1 + inner.selections;
  }
  return shape;
}

/** Tokens in `source`, counting no further than `stopAfter`; a lexing error is left to the parser to report. */
function countTokens(source: string, stopAfter: number): number {
  const lexer = new Lexer(new Source(source));
  let count = 0;
  try {
    while (count <= stopAfter && lexer.advance().kind !== TokenKind.EOF) count += 1;
  } catch {
    // not a valid document: the parser answers with its own syntax error
  }
  return count;
}

/** An error Apollo answers with its catalogue code and HTTP status (formatAdminError renders the ApiError). */
function refusal(code: ErrorCode, message: string): GraphQLError {
  const error = new ApiError(code, message);
  return new GraphQLError(message, { originalError: error, extensions: { http: { status: error.status } } });
}

const tooComplex = (message: string) => refusal('query_too_complex', message);

/**
 * Refuses a document with more than `maxTokens` tokens before Apollo parses and validates it (work
 * that grows with the document, and blocked the event loop for seconds on a thousand aliases). Here
 * rather than in the plugin below: an error thrown by Apollo's hooks before parsing is answered as an
 * internal error (500), not with its own code.
 */
@Injectable()
export class QueryTokensMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    const query: unknown = req.method === 'GET' ? req.query?.query : (req.body as { query?: unknown } | undefined)?.query;
    const max = ADMIN_QUERY_LIMITS.maxTokens;
    if (typeof query !== 'string' || countTokens(query, max) <= max) return next();
    const error = new ApiError('query_too_complex', `The document has more than ${max} tokens`);
    res.status(error.status).json({ errors: [{ message: error.message, extensions: { code: error.code, status: error.status } }] });
  }
}

/**
 * Refuses an operation that asks for too much before any resolver runs: too deep, too many aliases or
 * selections, or too costly, measured on the validated document with its variables. Each refusal is a
 * `query_too_complex` error naming the limit.
 */
export function queryLimitsPlugin(): ApolloServerPlugin {
  const limits = ADMIN_QUERY_LIMITS;
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, schema }) {
          if (!operation) return; // no such operation: execution answers that, and runs nothing
          const fragments = new Map<string, FragmentDefinitionNode>();
          for (const definition of document.definitions) {
            if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
          }
          const shape = measure(operation.selectionSet, fragments, new Map());
          if (shape.depth > limits.maxDepth) throw tooComplex(`The query is ${shape.depth} fields deep; the limit is ${limits.maxDepth}`);
          if (shape.aliases > limits.maxAliases) throw tooComplex(`The query has ${shape.aliases} aliases; the limit is ${limits.maxAliases}`);
          if (shape.selections > limits.maxSelections) {
            throw tooComplex(`The query has ${shape.selections} selections once its fragments are expanded; the limit is ${limits.maxSelections}`);
          }
          // Variables that do not coerce: execution refuses the whole operation with its own error, nothing runs.
          if (getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}).errors) return;
          let cost: number;
          try {
            cost = getComplexity({ schema, query: document, operationName: operation.name?.value, variables: request.variables, estimators: ESTIMATORS });
          } catch (error) {
            // An argument that does not coerce fails only its own field at execution; refuse the whole
            // operation rather than run the rest of it without knowing its cost.
            throw refusal('invalid_request_error', error instanceof Error ? error.message : String(error));
          }
          if (cost > limits.maxCost) throw tooComplex(`The query costs ${cost}; the limit is ${limits.maxCost}`);
        },
      };
    },
  };
}
