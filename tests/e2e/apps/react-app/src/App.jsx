import { useState } from 'react';
import Message from './Message.jsx';

// The HMR test rewrites Message.jsx; the counter's state must survive (Fast Refresh, no reload).
export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1 id="framework">react</h1>
      <Message />
      <button id="count" onClick={() => setCount((c) => c + 1)}>
        count is {count}
      </button>
    </main>
  );
}
