/** The dashboard's icon: three linked nodes. */
export const FAVICON_SVG = String.raw`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<path d="M8 16 L24 8 M8 16 L24 24" stroke="#475569" stroke-width="2.5" fill="none"/>
<circle cx="8" cy="16" r="5" fill="#4f46e5"/>
<circle cx="24" cy="8" r="5" fill="#16a34a"/>
<circle cx="24" cy="24" r="5" fill="#f59e0b"/>
</svg>
`
