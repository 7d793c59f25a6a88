import { asyncScheduler, firstValueFrom } from 'rxjs'
import { Resources } from '../src/Resources.js'
import { RetryMode } from '../src/RetryMode.js'
import { branch, JoinStrategy, split } from '../src/Split.js'
import { resolveTaskConfig } from '../src/TaskConfig.js'
import { runSplitState } from '../streams/runSplitState.js'
const env = { workflowId: 'w', state: 'S' as const, taskId: 'S', res: Resources.empty(), runSignal: new AbortController().signal, scheduler: asyncScheduler, random: Math.random, now: () => Date.now(), emit: undefined, split: undefined, config: resolveTaskConfig({}), to: undefined, fast: true, publishSplit: () => undefined }
const N = Number(process.env.N)
for (const bulkhead of [undefined, 1, 2]) {
  const branches = Array.from({ length: N }, (_, i) => (i === 0 ? branch(async () => 0, { retry: RetryMode.none() }) : branch(() => i, { retry: RetryMode.none() })))
  const h = split<'S'>(branches, { strategy: JoinStrategy.all(), join: 'S', ...(bulkhead === undefined ? {} : { bulkhead }) })
  try { console.log(bulkhead, await firstValueFrom(runSplitState(h, env))) } catch (e) { console.log(bulkhead, 'ERR', String(e).slice(0, 200)) }
}
