// The sign-in page: the token is checked with /whoami and kept in session storage.
// A file of its own: the Content-Security-Policy allows no inline script.
document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = document.getElementById('token').value.trim();
  const msg = document.getElementById('msg');
  const r = await fetch('/api/v1/whoami', {headers: {Authorization: 'Bearer ' + token}});
  if (!r.ok) { msg.textContent = (await r.json()).error.message; return; }
  sessionStorage.setItem('billport-token', token);
  const me = await r.json();
  msg.style.color = '#1d6b2f';
  msg.textContent = 'Signed in as ' + me.name + ' (' + me.role + ').';
  if (me.role !== 'feed') location.href = '/invoices';
});
