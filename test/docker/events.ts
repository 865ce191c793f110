import type Docker from 'dockerode'

/** One container event, as the daemon reports it. */
export interface ContainerEvent {
  /** `create`, `start`, `die`, `destroy`... */
  action: string
  id: string
  /** The container's labels (and `image`, `name`), from the event's attributes. */
  labels: Record<string, string>
  /** Seconds since the epoch. */
  time: number
}

/**
 * The container events the daemon recorded from `since` (seconds since the epoch) until now, of
 * one `event` kind and, if given, with one `label` (`key=value`). Containers removed since still
 * show: this is how a test counts the containers a run made and removed.
 */
export async function containerEvents(docker: Docker, options: { since: number; event: string; label?: string }): Promise<ContainerEvent[]> {
  const filters = { type: ['container'], event: [options.event], ...(options.label === undefined ? {} : { label: [options.label] }) }
  const stream = await docker.getEvents({ since: options.since, until: Math.ceil(Date.now() / 1000), filters: JSON.stringify(filters) })
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const e = JSON.parse(line) as { Action: string; Actor: { ID: string; Attributes?: Record<string, string> }; time: number }
      return { action: e.Action, id: e.Actor.ID, labels: e.Actor.Attributes ?? {}, time: e.time }
    })
}
