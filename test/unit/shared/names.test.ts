import { RefreshErrors } from '../../../src/shared/contract';
import { formatIdentifier, formatRelationName, parseRelationName, parseSchemaName, quoteIdentifier } from '../../../src/shared/names';

describe('view names are read like regclass', () => {
  test.each([
    ['sales', { name: 'sales' }],
    ['Public.Sales', { schema: 'public', name: 'sales' }],
    ['"Sales Hub"."Daily Totals"', { schema: 'Sales Hub', name: 'Daily Totals' }],
    ['"say ""hi"""', { name: 'say "hi"' }],
    ['"a.b"', { name: 'a.b' }],
    ['  public . sales  ', { schema: 'public', name: 'sales' }],
    ['_x$1', { name: '_x$1' }],
    // In a UTF-8 database PostgreSQL folds only ASCII letters.
    ['Äpfel.ÖL', { schema: 'Äpfel', name: 'Öl' }],
    ['"x; DROP TABLE t; --"', { name: 'x; DROP TABLE t; --' }],
  ])('%s', (input, expected) => {
    expect(parseRelationName(input)).toEqual(expected);
  });

  test.each([
    ['1abc', /unexpected "1" at position 1/],
    ['a..b', /unexpected "\." at position 3/],
    ['$a', /unexpected "\$" at position 1/],
    ['""', /empty quoted identifier/],
    ['a."b', /unterminated double quote/],
    ['a.b.c', /a database prefix is not allowed/],
    ['a\u0000b', /unexpected "\\u0000"/],
  ])('%j is rejected', (input, message) => {
    expect(() => parseRelationName(input)).toThrow(message);
    try {
      parseRelationName(input);
    } catch (error) {
      expect((error as Error).name).toBe(RefreshErrors.INVALID_REQUEST);
    }
  });

  test('a schema name is one identifier', () => {
    expect(parseSchemaName('"Sales Hub"')).toBe('Sales Hub');
    expect(() => parseSchemaName('a.b')).toThrow(/Invalid schema name "a\.b": a schema name has no dots/);
  });

  test('identifiers are always quoted, with embedded quotes doubled', () => {
    expect(quoteIdentifier('sales')).toBe('"sales"');
    expect(quoteIdentifier('x"; DROP TABLE t; --')).toBe('"x""; DROP TABLE t; --"');
  });
});

describe('names are formatted as format(\'%I\') formats them', () => {
  test.each([
    ['daily_totals', 'daily_totals'],
    ['_x1', '_x1'],
    ['abort', 'abort'],
    ['order', '"order"'],
    ['between', '"between"'],
    ['left', '"left"'],
    ['Order', '"Order"'],
    ['Daily Totals', '"Daily Totals"'],
    ['say "hi"', '"say ""hi"""'],
    ['2024_totals', '"2024_totals"'],
    ['mv$1', '"mv$1"'],
    ['äpfel', '"äpfel"'],
  ])('%s as %s', (identifier, expected) => {
    expect(formatIdentifier(identifier)).toBe(expected);
  });

  test.each([
    ['reporting', 'order'],
    ['Sales Hub', 'Daily Totals'],
    ['user', 'say "hi"'],
    ['a.b', ' c '],
    ['Äpfel', '日本語'],
  ])('%s.%s reads back as the same schema and name', (schema, name) => {
    expect(parseRelationName(formatRelationName(schema, name))).toEqual({ schema, name });
  });
});
