import type { z } from 'zod';

const cache = new WeakMap<z.ZodType, z.ZodType>();

/**
 * The same schema, reading leniently: every object in it, however deep, drops keys it does not
 * know instead of refusing them, so a client built against an older protocol reads a newer
 * hub's answers. Refinements, defaults and transforms stay as they are. The hub parses what it
 * receives with the strict schema; the CLI (and the dashboard) parse answers with this.
 *
 * @example const page = lenient(TargetPage).parse(JSON.parse(text));
 */
export function lenient<S extends z.ZodType>(schema: S): S {
  return loosen(schema) as S;
}

function loosen(schema: z.ZodType): z.ZodType {
  const known = cache.get(schema);
  if (known !== undefined) return known;
  const def = schema._zod.def as z.core.$ZodTypeDef & Record<string, unknown>;
  let result: z.ZodType;
  switch (def.type) {
    case 'object': {
      const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType>;
      const catchall = def['catchall'] as z.ZodType | undefined;
      // A strict object refuses unknown keys (its catchall is `never`); a loose one keeps them, and still does.
      const loosened = catchall?._zod.def.type === 'never' ? undefined : catchall;
      result = schema.clone({
        ...def,
        shape: Object.fromEntries(Object.entries(shape).map(([key, value]) => [key, loosen(value)])),
        catchall: loosened,
      } as typeof def);
      break;
    }
    case 'array':
      result = schema.clone({ ...def, element: loosen(def['element'] as z.ZodType) } as typeof def);
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      result = schema.clone({ ...def, innerType: loosen(def['innerType'] as z.ZodType) } as typeof def);
      break;
    case 'union':
      result = schema.clone({ ...def, options: (def['options'] as z.ZodType[]).map(loosen) } as typeof def);
      break;
    case 'record':
      result = schema.clone({ ...def, valueType: loosen(def['valueType'] as z.ZodType) } as typeof def);
      break;
    case 'pipe':
      result = schema.clone({
        ...def,
        in: loosen(def['in'] as z.ZodType),
        out: loosen(def['out'] as z.ZodType),
      } as typeof def);
      break;
    default:
      result = schema;
  }
  cache.set(schema, result);
  return result;
}
