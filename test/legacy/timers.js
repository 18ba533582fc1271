// Two timers, each drawing a random number when it fires. Which fires first depends on
// TIMERS_FIRST (the same script, started with another environment, as on another machine).
const first = process.env.TIMERS_FIRST === 'b' ? 'b' : 'a'
const delay = (name) => (name === first ? 10 : 120)
setTimeout(() => console.log(`a ${Math.random()}`), delay('a'))
setTimeout(() => console.log(`b ${Math.random()}`), delay('b'))
