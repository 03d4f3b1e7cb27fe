import { createApp } from 'vue'
import App from './App.vue'
import { createAppRouter } from './router'
import { locale } from './i18n'
import { startLiveUpdates } from './stores/liveUpdates'
import './styles/main.css'

document.documentElement.lang = locale.value
const app = createApp(App)
app.use(createAppRouter())
app.mount('#app')
startLiveUpdates()
