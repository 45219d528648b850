/** The benchmarks' one chat conversation (bench, bench:soak, bench:client send the same messages). */
export const benchMessages = [
  { role: 'system', content: 'You are a concise assistant for an engineering team.' },
  { role: 'user', content: 'In two or three sentences, explain what an LLM router does and why a team would run one.' },
];
