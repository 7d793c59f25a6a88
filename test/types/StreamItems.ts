/**
 * Type tests of `streamItems` (compiled, never run): the cursor type comes from the codec and reaches
 * `source`, `onItem`'s answer and the window context; the output type reaches `onWindow`; the states
 * `onWindow` and `onClose` answer are checked against the workflow's.
 */
import * as t from 'io-ts'
import { from } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { WindowSignal } from '../../src/Stream.js'
import { streamItems } from '../../src/StreamItems.js'
import { assertType, type Equals } from './helpers.js'

const Offset = t.type({ partition: t.number, offset: t.number })
type Offset = t.TypeOf<typeof Offset>

streamItems({
  cursor: Offset,
  source: (_ctx, _after) => {
    assertType<Equals<typeof _after, Offset | undefined>>()
    return from(['a', 'bb'])
  },
  onItem: (line) => {
    assertType<Equals<typeof line, string>>()
    return { output: line.length, cursor: { partition: 0, offset: 1 } }
  },
  onWindow: (_outputs, { cursor: _cursor }) => {
    assertType<Equals<typeof _outputs, ReadonlyArray<number>>>()
    assertType<Equals<typeof _cursor, Offset | undefined>>()
    return WindowSignal.continue()
  },
  onClose: () => 'Done' as const,
})

streamItems({
  cursor: Offset,
  source: () => from([1, 2]),
  // @ts-expect-error the cursor must be the codec's type
  onItem: (n) => ({ output: n, cursor: n }),
  onClose: () => 'Done' as const,
})

workflow<'Tail' | 'Done'>()({
  exits: ['Done'],
  states: ({ streamItems: items }) => ({
    Tail: items({
      cursor: t.number,
      source: () => from([1, 2]),
      onItem: (n) => ({ output: String(n), cursor: n }),
      // @ts-expect-error 'Nowhere' is not a state of the workflow
      onWindow: () => WindowSignal.stop('Nowhere'),
      onClose: () => 'Done',
    }),
  }),
})
