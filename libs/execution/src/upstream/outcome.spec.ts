import { answerOutcome, parsedAnswerOutcome, usageOf } from './outcome';

describe('usageOf', () => {
  it.each([
    [
      'chat completions',
      {
        usage: {
          prompt_tokens: 12,
          completion_tokens: 5,
          total_tokens: 17,
          prompt_tokens_details: { cached_tokens: 4 },
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      },
      { promptTokens: 12, completionTokens: 5, cachedTokens: 4, reasoningTokens: 2 },
    ],
    [
      'responses',
      {
        usage: {
          input_tokens: 9,
          output_tokens: 3,
          total_tokens: 12,
          input_tokens_details: { cached_tokens: 1 },
          output_tokens_details: { reasoning_tokens: 3 },
        },
      },
      { promptTokens: 9, completionTokens: 3, cachedTokens: 1, reasoningTokens: 3 },
    ],
    ['embeddings', { usage: { prompt_tokens: 7, total_tokens: 7 } }, { promptTokens: 7, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 }],
    ['moderations (no usage)', { results: [] }, { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 }],
    [
      'nonsense counts',
      { usage: { prompt_tokens: -3, completion_tokens: 'many', prompt_tokens_details: null } },
      { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 },
    ],
  ])('reads the usage of %s', (_name, body, expected) => {
    expect(usageOf(body)).toEqual(expected);
  });
});

describe('answer outcomes', () => {
  it('completes a 2xx with its usage and keeps any other status as a failure with its body', () => {
    expect(answerOutcome({ statusCode: 200, requestId: 'r', body: '{ "usage": { "input_tokens": 2, "output_tokens": 1 } }' })).toMatchObject({
      ok: true,
      body: '{"usage":{"input_tokens":2,"output_tokens":1}}',
      promptTokens: 2,
      completionTokens: 1,
    });
    expect(parsedAnswerOutcome(429, null, { error: { message: 'slow down' } })).toMatchObject({
      ok: false,
      statusCode: 429,
      promptTokens: 0,
      error: { code: 'upstream_rate_limited', message: 'Upstream answered HTTP 429: slow down' },
    });
  });
});
