import { useEffect, useId, useState, type FormEvent } from 'react';
import { navigate } from '../router';

/** A small form that opens `<basePath>/<id>` for an id typed or pasted by the user. */
export function OpenById({ current, label, placeholder, basePath }: { current: string | undefined; label: string; placeholder: string; basePath: string }) {
  const id = useId();
  const [value, setValue] = useState(current ?? '');
  useEffect(() => {
    setValue(current ?? '');
  }, [current]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) navigate(`${basePath}/${encodeURIComponent(value.trim())}`);
  };
  return (
    <form onSubmit={submit} className="open-by-id">
      <label htmlFor={id}>{label}</label>
      <div className="row">
        <input id={id} className="text" value={value} onChange={(e) => setValue(e.target.value)} placeholder={placeholder} />
        <button type="submit" className="button small">
          Open
        </button>
      </div>
    </form>
  );
}
