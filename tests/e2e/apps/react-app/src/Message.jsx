export default function Message() {
  return <p id="message">hello from react</p>;
}
